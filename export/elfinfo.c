/* elfinfo.c — the loader's view of an ELF file, through libelf (see elfinfo.h). */
#include "elfinfo.h"

#include <elf.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>

struct load {
	uint64_t vaddr, off, filesz;
};

void elfinfo_free(struct elfinfo *ei)
{
	free(ei->interp);
	free(ei->strtab);
	free(ei->needed);
	memset(ei, 0, sizeof *ei);
	ei->rpath = ei->runpath = ei->soname = -1;
}

/* File offset of virtual address ADDR through the PT_LOAD segments, or -1. */
static int64_t addr_to_off(const struct load *l, size_t n, uint64_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (addr >= l[i].vaddr && addr - l[i].vaddr < l[i].filesz)
			return (int64_t)(addr - l[i].vaddr + l[i].off);
	return -1;
}

/* An offset into the string table that names a string; else -1. */
static int64_t str_off(const struct elfinfo *ei, uint64_t off)
{
	return ei->strtab != NULL && off < ei->strsz ? (int64_t)off : -1;
}

struct dyn {
	uint64_t strtab, strsz, rpath, runpath, soname;
	bool has_strtab, has_rpath, has_runpath, has_soname;
};

static int read_dynamic(Elf *e, struct elfinfo *ei, uint64_t off, uint64_t size,
			const struct load *loads, size_t nloads)
{
	Elf_Data *d = elf_getdata_rawchunk(e, (int64_t)off, size, ELF_T_DYN);
	struct dyn y = { 0 };
	size_t n, esz = ei->class == ELFCLASS64 ? sizeof(Elf64_Dyn) : sizeof(Elf32_Dyn);
	uint64_t *needed = NULL;
	size_t nneeded = 0;

	if (d == NULL || d->d_buf == NULL)
		return 0;
	n = d->d_size / esz;
	needed = calloc(n ? n : 1, sizeof *needed);
	if (needed == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int64_t tag;
		uint64_t val;

		/* elf_getdata_rawchunk translated the entries to the host's layout */
		if (ei->class == ELFCLASS64) {
			const Elf64_Dyn *p = (const Elf64_Dyn *)d->d_buf + i;

			tag = p->d_tag;
			val = p->d_un.d_val;
		} else {
			const Elf32_Dyn *p = (const Elf32_Dyn *)d->d_buf + i;

			tag = p->d_tag;
			val = p->d_un.d_val;
		}
		if (tag == DT_NULL)
			break;
		switch (tag) {
		case DT_NEEDED:
			needed[nneeded++] = val;
			break;
		case DT_STRTAB:
			y.strtab = val;
			y.has_strtab = true;
			break;
		case DT_STRSZ:
			y.strsz = val;
			break;
		case DT_RPATH:
			y.rpath = val;
			y.has_rpath = true;
			break;
		case DT_RUNPATH:
			y.runpath = val;
			y.has_runpath = true;
			break;
		case DT_SONAME:
			y.soname = val;
			y.has_soname = true;
			break;
		case DT_FLAGS_1:
			ei->nodeflib = (val & DF_1_NODEFLIB) != 0;
			break;
		default:
			break;
		}
	}
	if (y.has_strtab && y.strsz > 0) {
		int64_t soff = addr_to_off(loads, nloads, y.strtab);
		Elf_Data *s = soff < 0 ? NULL : elf_getdata_rawchunk(e, soff, y.strsz, ELF_T_BYTE);

		if (s != NULL && s->d_buf != NULL && s->d_size == y.strsz) {
			ei->strtab = malloc(y.strsz + 1);
			if (ei->strtab == NULL) {
				free(needed);
				return -1;
			}
			memcpy(ei->strtab, s->d_buf, y.strsz);
			ei->strtab[y.strsz] = '\0';   /* the guard: every string ends inside */
			ei->strsz = y.strsz;
		}
	}
	/* keep only the names that are inside the string table */
	ei->needed = needed;
	ei->nneeded = 0;
	for (size_t i = 0; i < nneeded; i++)
		if (str_off(ei, needed[i]) >= 0 && ei->strtab[needed[i]] != '\0')
			ei->needed[ei->nneeded++] = needed[i];
	ei->rpath = y.has_rpath ? str_off(ei, y.rpath) : -1;
	ei->runpath = y.has_runpath ? str_off(ei, y.runpath) : -1;
	ei->soname = y.has_soname ? str_off(ei, y.soname) : -1;
	return 0;
}

int elfinfo_read(int fd, struct elfinfo *ei)
{
	Elf *e;
	GElf_Ehdr eh;
	const char *ident;
	size_t phnum, nloads = 0;
	struct load *loads = NULL;
	uint64_t dynoff = 0, dynsz = 0;
	bool has_dyn = false;
	int ret = 1;

	memset(ei, 0, sizeof *ei);
	ei->rpath = ei->runpath = ei->soname = -1;
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (e == NULL)
		return 1;
	if (elf_kind(e) != ELF_K_ELF || gelf_getehdr(e, &eh) == NULL ||
	    (ident = elf_getident(e, NULL)) == NULL || elf_getphdrnum(e, &phnum) != 0)
		goto out;
	ei->class = (unsigned char)ident[EI_CLASS];
	ei->data = (unsigned char)ident[EI_DATA];
	ei->machine = eh.e_machine;
	ei->type = eh.e_type;
	loads = calloc(phnum ? phnum : 1, sizeof *loads);
	if (loads == NULL) {
		ret = -1;
		goto out;
	}
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(e, (int)i, &ph) == NULL)
			continue;
		if (ph.p_type == PT_INTERP && ei->interp == NULL && ph.p_filesz > 1) {
			Elf_Data *d = elf_getdata_rawchunk(e, (int64_t)ph.p_offset, ph.p_filesz,
							   ELF_T_BYTE);
			size_t len = d && d->d_buf ? strnlen(d->d_buf, d->d_size) : 0;

			if (len > 0 && len < d->d_size) {
				ei->interp = strndup(d->d_buf, len);
				if (ei->interp == NULL) {
					ret = -1;
					goto out;
				}
			}
		} else if (ph.p_type == PT_DYNAMIC && !has_dyn) {
			has_dyn = true;
			dynoff = ph.p_offset;
			dynsz = ph.p_filesz;
		} else if (ph.p_type == PT_LOAD) {
			loads[nloads++] = (struct load){ ph.p_vaddr, ph.p_offset, ph.p_filesz };
		}
	}
	ei->dynamic = has_dyn;
	if (has_dyn && read_dynamic(e, ei, dynoff, dynsz, loads, nloads) < 0) {
		ret = -1;
		goto out;
	}
	ret = 0;
out:
	free(loads);
	elf_end(e);
	if (ret != 0)
		elfinfo_free(ei);
	return ret;
}

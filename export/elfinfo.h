/* elfinfo.h — what the dynamic loader reads from an ELF file, read with libelf.
 *
 * Only program headers are used, as the loader uses them: PT_INTERP, PT_DYNAMIC and the
 * PT_LOAD segments that map DT_STRTAB's address to a file offset.  Every chunk is taken
 * with elf_getdata_rawchunk(), which refuses a range outside the file; every string
 * offset is checked against DT_STRSZ, and the string table copy ends in a NUL guard, so
 * a hostile file yields at worst wrong names, never a read outside the buffers.
 */
#ifndef SLIMFS_EXPORT_ELFINFO_H
#define SLIMFS_EXPORT_ELFINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elfinfo {
	unsigned char class, data;   /* EI_CLASS, EI_DATA */
	uint16_t machine, type;      /* e_machine, e_type */
	char *interp;                /* PT_INTERP, NULL if none */
	bool dynamic;                /* has PT_DYNAMIC */
	char *strtab;                /* DT_STRTAB, STRSZ bytes + a NUL */
	size_t strsz;
	uint64_t *needed;            /* DT_NEEDED offsets into strtab, in order */
	size_t nneeded;
	int64_t rpath, runpath, soname;   /* offsets into strtab, -1 if absent */
	bool nodeflib;               /* DF_1_NODEFLIB */
};

/* Read FD (a regular file).  0: ELF read into EI; 1: not an ELF file this reader can
 * use; -1: out of memory. */
int elfinfo_read(int fd, struct elfinfo *ei);
void elfinfo_free(struct elfinfo *ei);

/* The string at OFF (-1: NULL). */
static inline const char *elfinfo_str(const struct elfinfo *ei, int64_t off)
{
	return off < 0 || ei->strtab == NULL ? NULL : ei->strtab + off;
}

#endif

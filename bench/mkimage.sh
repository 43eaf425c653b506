#!/usr/bin/env bash
# mkimage.sh — a synthetic image of N files for the export and memory benchmarks.
#
# usage: bench/mkimage.sh DIR [N]    (default 100000; DIR must not exist)
#
# Shape: N regular files spread 100 per directory over DIR/usr/lib/pkgA/subB/, sizes
# 0..4095 bytes (about 2 KB on average, so the archive is real I/O, not just headers),
# plus one symlink per 50 files and one hard link per 100 files, so the exporter's
# link handling is on the path too.  Deterministic: the same N gives the same tree.
# Perl (perl-base, always on Debian) writes it: a shell loop would take minutes.
set -euo pipefail
dir=${1:?usage: mkimage.sh DIR [N]}
n=${2:-100000}
[[ -e $dir ]] && { echo "mkimage.sh: $dir exists" >&2; exit 1; }
mkdir -p "$dir"
perl -e '
	my ($dir, $n) = @ARGV;
	my $blob = "x" x 4096;
	for my $i (0 .. $n - 1) {
		my $d = sprintf("%s/usr/lib/pkg%03d/sub%02d", $dir, int($i / 1000), int($i / 100) % 10);
		if ($i % 100 == 0) {
			system("mkdir", "-p", $d) == 0 or die "mkdir $d\n";
		}
		my $f = "$d/file$i.so";
		open(my $fh, ">", $f) or die "$f: $!\n";
		print $fh substr($blob, 0, ($i * 37) % 4096);
		close($fh);
		symlink("file$i.so", "$d/link$i.so") or die "symlink: $!\n" if $i % 50 == 1;
		link($f, "$d/hard$i.so") or die "link: $!\n" if $i % 100 == 2;
	}
' "$dir" "$n"

# lib.sh — what the bench scripts share; sourced, not run.

# median — the median of the numbers on stdin (space or newline separated).
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# ratio A B — "A/Bx" with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }

#!/usr/bin/env bash
# bench/pgbench.sh: point reads by primary key (6 personal-data columns),
# directly against PostgreSQL and through pgveil, in one run. Rounds
# alternate between the targets so machine noise hits both alike; the
# table reports the median tps of the rounds and the ratio.
#
#   bench/pgbench.sh                    # 3 rounds x 10 s, 8 clients
#   ROUNDS=5 DURATION=20 CLIENTS=64 bench/pgbench.sh
#
# It starts `pgveil demo` (a throwaway PostgreSQL with the sample CRM) and
# writes the table and raw figures to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
MODES=${MODES:-"simple extended prepared"}

tmp=$(mktemp -d)
demo_pid=
cleanup() {
	[ -n "$demo_pid" ] && kill -INT "$demo_pid" 2>/dev/null && wait "$demo_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/pgveil" ./cmd/pgveil
"$tmp/pgveil" demo -local-port 0 -overseas-port 0 >"$tmp/demo.out" 2>&1 &
demo_pid=$!
for _ in $(seq 120); do
	grep -q "Press Ctrl-C" "$tmp/demo.out" && break
	kill -0 "$demo_pid" 2>/dev/null || { cat "$tmp/demo.out"; exit 1; }
	sleep 1
done

# The demo prints: PGPASSWORD=... psql "host=H port=P dbname=crm user=U"
conn() { # $1: user name -> "password host port user"
	grep "user=$1\"" "$tmp/demo.out" | head -1 |
		sed -E 's/.*PGPASSWORD=([^ ]+) psql "host=([^ ]+) port=([0-9]+) dbname=crm user=([^"]+)".*/\1 \2 \3 \4/'
}
read -r pgveil_pw pgveil_host pgveil_port pgveil_user <<<"$(conn li.na)"
read -r direct_pw direct_host direct_port direct_user <<<"$(conn crm_reader)"

cat >"$tmp/point.sql" <<'SQL'
\set id random(1, 1000)
SELECT id, name, mobile, email, id_number, birthday FROM crm.customers WHERE id = :id;
SQL

run() { # target mode -> tps
	local pw host port user
	if [ "$1" = direct ]; then
		pw=$direct_pw host=$direct_host port=$direct_port user=$direct_user
	else
		pw=$pgveil_pw host=$pgveil_host port=$pgveil_port user=$pgveil_user
	fi
	PGPASSWORD=$pw pgbench -n -h "$host" -p "$port" -U "$user" -f "$tmp/point.sql" \
		-c "$CLIENTS" -j "$THREADS" -T "$DURATION" -M "$2" crm 2>&1 |
		awk '/failed transactions: [1-9]/ {print "FAILED"; exit} /^tps = / {print $3}'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

mkdir -p bench/results
out="bench/results/pgbench-$(date -u +%Y%m%dT%H%M%SZ).md"
raw="$tmp/raw.txt"
for mode in $MODES; do
	for r in $(seq "$ROUNDS"); do
		for target in direct pgveil; do
			tps=$(run "$target" "$mode")
			[ "$tps" = FAILED ] && { echo "pgbench reported failed transactions ($target, $mode)" >&2; exit 1; }
			echo "$mode $target $r $tps" | tee -a "$raw" >&2
		done
	done
done

{
	echo "pgbench point reads, $CLIENTS clients, $THREADS threads, $ROUNDS x ${DURATION}s rounds, $(nproc) cores, $(date -u)"
	echo
	echo "| -M | direct tps (median) | pgveil tps (median) | pgveil / direct |"
	echo "|---|---|---|---|"
	for mode in $MODES; do
		d=$(awk -v m="$mode" '$1==m && $2=="direct" {print $4}' "$raw" | median)
		p=$(awk -v m="$mode" '$1==m && $2=="pgveil" {print $4}' "$raw" | median)
		awk -v m="$mode" -v d="$d" -v p="$p" 'BEGIN {printf "| %s | %.0f | %.0f | %.2f |\n", m, d, p, p / d}' 
	done
	echo
	echo "raw (mode target round tps):"
	sed 's/^/    /' "$raw"
} | tee "$out"
echo "written to $out" >&2

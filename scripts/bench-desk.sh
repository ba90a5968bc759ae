#!/usr/bin/env bash
# The editors' inbox (GET /admin/veille) at N watch items (default 100,000), on SQLite then on
# PostgreSQL (RELAIS_BENCH_POSTGRES, an admin URL, default the loopback server; skipped with
# --sqlite-only): a release build of `relais serve` over a database filled in bulk with 20
# sources and a year of French items (themes, countries, a few deadlines, ~10 % relays of a
# story by another source, the published ones in weekly issues). Prints, per request, the
# matches, the median and p95 of 50 timed requests after 3 warm-ups, and the overall p95 (target
# < 50 ms); then the same-story grouping of a week's 2,000 items (criterion, target < 1 s).
# Usage: scripts/bench-desk.sh [--sqlite-only] [N]. RELAIS_BENCH_KEEP=1 keeps the databases.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
sqlite_only=false
n=100000
for arg in "$@"; do
  case $arg in
    --sqlite-only) sqlite_only=true ;;
    *) n=$arg ;;
  esac
done
pg_admin=${RELAIS_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
pg_db=relais_bench_desk
reps=50

cargo build --release --quiet --bin relais
bin=$target/release/relais
work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  if [ "${RELAIS_BENCH_KEEP:-}" = 1 ]; then echo "kept: $work, database $pg_db"; return; fi
  $sqlite_only || psql "$pg_admin" -qc "drop database if exists $pg_db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Writes the bench's sources, items, tags, and the weekly issues that hold the published items:
# into the SQLite file $3 ($1 = sqlite), or as COPY files and a psql script in the directory $3
# ($1 = pg). Ids are explicit, so that relays can name their story.
generate() {
  python3 - "$@" <<'PY'
import datetime as dt, hashlib, random, sqlite3, sys, unicodedata
mode, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rnd = random.Random(2026)

def fold(text):  # src/domain/search.rs::fold
    out, pending = [], False
    for c in unicodedata.normalize("NFKD", text):
        if unicodedata.category(c).startswith("M"):  # combining marks: the accents
            continue
        for c in {"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"}.get(c, c):
            if c.isascii() and c.isalnum():
                out.append(" " + c.lower() if pending and out else c.lower())
                pending = False
            else:
                pending = True
    return "".join(out)

SOURCES = [("afd", "Agence française de développement"), ("cites-unies", "Cités Unies France"),
    ("coordination-sud", "Coordination SUD"), ("f3e", "F3E"), ("focus-2030", "Focus 2030"),
    ("mae-appels", "Ministère de l'Europe et des Affaires étrangères"), ("region-occitanie", "Région Occitanie"),
    ("ambassade-senegal", "Ambassade de France au Sénégal"), ("pseau", "pS-Eau"), ("gret", "Gret"),
    ("france-volontaires", "France Volontaires"), ("educasol", "Educasol"), ("resacoop", "RESACOOP"),
    ("fondation-de-france", "Fondation de France"), ("onu-info", "ONU Info"), ("ue-echo", "ECHO — Union européenne"),
    ("rfi-afrique", "RFI Afrique"), ("jeune-afrique", "Jeune Afrique"), ("so-cooperation", "Solidarités Occitanie"),
    ("agence-eau", "Agence de l'eau Adour-Garonne")]
THEMES = {"sante": ["l'accès aux soins", "la santé maternelle", "la vaccination des enfants"],
    "eau-assainissement": ["l'accès à l'eau potable", "l'assainissement en milieu rural", "la gestion de l'eau"],
    "education-citoyennete": ["l'éducation à la citoyenneté mondiale", "la scolarisation des filles"],
    "jeunesse-volontariat": ["le volontariat de réciprocité", "la mobilité internationale des jeunes"],
    "formation": ["la formation professionnelle", "le renforcement des compétences des élus"],
    "financement": ["le cofinancement des projets", "les fonds de solidarité"],
    "migrations-accueil": ["l'accueil des personnes exilées", "les migrations et le développement"],
    "agriculture": ["l'agroécologie", "la sécurité alimentaire", "les filières céréalières"],
    "economie-mecenat": ["l'économie sociale et solidaire", "le mécénat d'entreprise"],
    "urgence": ["l'aide humanitaire d'urgence", "la reconstruction après les inondations"]}
COUNTRIES = [("SN", "au Sénégal"), ("MG", "à Madagascar"), ("BF", "au Burkina Faso"), ("ML", "au Mali"),
    ("BJ", "au Bénin"), ("CM", "au Cameroun"), ("MA", "au Maroc"), ("TN", "en Tunisie"), ("HT", "en Haïti"),
    ("LB", "au Liban"), ("PS", "en Palestine"), ("VN", "au Vietnam"), ("KH", "au Cambodge"),
    ("BR", "au Brésil"), ("NE", "au Niger"), ("TG", "au Togo")]
TITLES = ["Appel à projets : {t} {c}", "Appel à candidatures pour {t} {c}", "{t} : un nouveau programme {c}",
    "Rapport annuel sur {t} {c}", "Webinaire : {t}, retours d'expérience {c}", "Journée d'échanges sur {t} à Toulouse",
    "Les élus d'Occitanie s'engagent pour {t} {c}", "Lauréats 2026 du fonds pour {t}", "Étude : où en est {t} {c} ?"]
SENTENCES = ["Le programme soutient les collectivités et les associations engagées dans {t} {c}.",
    "Les dossiers de candidature présentent un budget prévisionnel et un plan de cofinancement.",
    "Cette initiative s'inscrit dans les objectifs de développement durable des Nations unies.",
    "Les partenaires locaux participent à chaque étape, de l'identification à l'évaluation.",
    "Une réunion d'information aura lieu en ligne ; l'inscription est gratuite mais obligatoire.",
    "Le rapport souligne le rôle des acteurs de la société civile et des femmes dans {t}.",
    "La coopération décentralisée finance des actions concrètes avec des résultats mesurables.",
    "L'aide publique au développement a reculé cette année, selon les chiffres publiés.",
    "Les projets éligibles associent au moins une structure française et une structure {c}.",
    "Les lauréats bénéficient d'un accompagnement méthodologique et d'une subvention de 15 000 €.",
    "Les élèves et les enseignants ont témoigné de leur expérience lors d'une journée à Montpellier.",
    "Le comité de sélection se réunira en septembre ; les résultats seront publiés en ligne.",
    "Plus de 300 structures ont répondu à l'enquête menée l'été dernier par le réseau régional.",
    "Les inondations de l'hiver ont détruit des puits, des écoles et plusieurs centres de santé.",
    "Le guide pratique détaille les étapes, de la rédaction du dossier au rapport final.",
    "Une délégation d'élus s'est rendue sur place pour rencontrer les partenaires {c}.",
    "Les femmes représentent plus de la moitié des bénéficiaires du programme.",
    "Le budget total s'élève à 2,5 millions d'euros sur trois ans."]

now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
stamp = lambda t: t.isoformat()  # sqlx's text for DateTime<Utc>: 2026-11-30T05:00:00+00:00
fetched = sorted(now - dt.timedelta(seconds=rnd.randrange(365 * 86400)) for _ in range(n))
items, tags, issues, entries = [], [], {}, []
for i, at in enumerate(fetched, 1):
    src = rnd.randrange(len(SOURCES))
    if i > 50 and rnd.random() < 0.10:  # a relay of a recent item by another source
        orig = items[i - 1 - rnd.randrange(1, 50)]
        src = (orig["src"] + 1 + rnd.randrange(len(SOURCES) - 1)) % len(SOURCES)
        title = rnd.choice(["Relayé : ", "À lire : ", ""]) + orig["title"]
        text = orig["text"] + " " + rnd.choice(SENTENCES).format(t="ce projet", c="partenaire")
        story, themes, ctys, deadline = orig["story"], orig["themes"], orig["ctys"], orig["deadline"]
    else:
        themes = rnd.sample(list(THEMES), rnd.choice([1, 1, 2]))
        ctys = rnd.sample(COUNTRIES, rnd.choice([0, 1, 1, 2]))
        t = rnd.choice(THEMES[themes[0]])
        c = ctys[0][1] if ctys else "en Occitanie"
        tpl = rnd.choice(TITLES)
        title = tpl.format(t=t, c=c)
        title = title[0].upper() + title[1:]
        text = " ".join(s.format(t=t, c=c) for s in rnd.sample(SENTENCES, rnd.randint(3, 5)))
        story, ctys = i, [code for code, _ in ctys]
        deadline = ((at + dt.timedelta(days=rnd.randint(10, 60))).date().isoformat()
                    if tpl.startswith("Appel") else None)
    age = (now - at).days
    status = rnd.choices(["new", "dismissed", "published", "selected"],
                         [85, 9, 3, 3] if age <= 30 else [4, 88, 8, 0])[0]
    slug, _ = SOURCES[src]
    newsletter = rnd.choice([1, 2]) if status in ("selected", "published") else None
    url = f"https://{slug}.example.org/actualites/{i}"
    published = None if rnd.random() < 0.03 else at - dt.timedelta(seconds=rnd.randrange(172800))
    items.append(dict(id=i, src=src, title=title, text=text, story=story, themes=themes, ctys=ctys,
        deadline=deadline, row=(i, src + 1, "guid:" + url, url, url, title, f"<p>{text}</p>", text,
        hashlib.sha256(f"{title}\n<p>{text}</p>\n{url}".encode()).hexdigest(),
        published and stamp(published), deadline, status, rnd.random() < 0.02, stamp(at), stamp(at),
        newsletter, story, fold(f"{title} {text}"))))
    tags += [(i, "theme", t) for t in themes] + [(i, "country", c) for c in ctys]
    if status == "published":  # in the week's issue of the title it was selected for
        key = (newsletter, (at + dt.timedelta(days=3)).isocalendar()[:2])
        if key not in issues:
            sent = stamp(min(now, at + dt.timedelta(days=3)))
            issues[key] = (len(issues) + 1, newsletter, f"Numéro {len(issues) + 1}", "sent", sent, sent, sent)
        entries.append((len(entries) + 1, issues[key][0], ["politiques-publiques", "actualites"][newsletter - 1],
                        len(entries) + 1, i))

sources = [(k + 1, slug, name, f"https://{slug}.example.org/feed", k % 2 + 1,
            "failing" if k == 7 else "ok", stamp(now - dt.timedelta(days=400)), stamp(now))
           for k, (slug, name) in enumerate(SOURCES)]
tables = {"sources": ("id slug name url newsletter_id state created_at updated_at", sources),
    "items": ("id source_id dedup_key guid url title summary summary_text content_hash published_at deadline "
              "status changed fetched_at updated_at selected_for story_id search_text", [it["row"] for it in items]),
    "item_tags": ("item_id kind value", tags),
    "issues": ("id newsletter_id subject status created_at approved_at sent_at", list(issues.values())),
    "issue_entries": ("id issue_id section position item_id", entries)}
if mode == "sqlite":
    db = sqlite3.connect(out)
    with db:
        for table, (cols, rows) in tables.items():
            cols = cols.split()
            db.executemany(f"insert into {table} ({', '.join(cols)}) values ({', '.join('?' * len(cols))})", rows)
else:  # COPY files, and the psql script that loads them
    with open(f"{out}/load.sql", "w") as load:
        for table, (cols, rows) in tables.items():
            with open(f"{out}/{table}.tsv", "w") as f:
                for r in rows:
                    f.write("\t".join("\\N" if v is None else ("t" if v else "f") if isinstance(v, bool)
                                      else str(v) for v in r) + "\n")
            load.write(f"\\copy {table} ({', '.join(cols.split())}) from '{out}/{table}.tsv'\n")
            if "id" in cols.split():
                load.write(f"select setval(pg_get_serial_sequence('{table}', 'id'), (select max(id) from {table}));\n")
        load.write("vacuum analyze;\n")
print(f"{sum(1 for it in items if it['story'] != it['id'])} relays, {len(tags)} tags, "
      f"{len(entries)} items in {len(issues)} issues")
PY
}

# Times GET /admin/veille?QUERY for each query (keep-alive, so server time plus loopback):
# 3 warm-ups then $reps timed; prints matches, rows shown, median and p95, then the overall p95.
time_queries() { # $1: label, $2: base URL, then the queries
  python3 - "$reps" "$(grep -o 'relais_staff.*' "$work/cookies" | cut -f2)" "$@" <<'PY'
import http.client, re, statistics, sys, time, urllib.parse
reps, cookie, label, base, queries = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
conn = http.client.HTTPConnection(urllib.parse.urlsplit(base).netloc)
def get(q):
    start = time.perf_counter()
    conn.request("GET", "/admin/veille?" + q, headers={"Cookie": f"relais_staff={cookie}"})
    resp = conn.getresponse()
    page = resp.read().decode()
    assert resp.status == 200, (q, resp.status)
    return time.perf_counter() - start, page
p95 = lambda t: t[int(len(t) * 0.95) - 1]
every = []
for q in queries:
    for _ in range(3): _, page = get(q)
    t = sorted(get(q)[0] * 1000 for _ in range(reps))
    every += t
    total = re.search(r"<strong>(\d+)</strong> élément", page)
    flag = "  OVER TARGET" if p95(t) >= 50 else ""
    print(f"  {q or '(plain)':<42} {total.group(1) if total else '?':>6} matches "
          f"{page.count('data-item-id='):>3} rows  median {statistics.median(t):6.1f} ms  p95 {p95(t):6.1f} ms{flag}")
every.sort()
print(f"  {label} overall: {len(every)} requests, p95 {p95(every):.1f} ms, max {every[-1]:.1f} ms (target p95 < 50 ms)")
PY
}

bench_backend() { # $1: label, $2: database URL
  local label=$1 url=$2 start port
  rm -rf "$work/data"; : > "$work/sources.toml"
  export RELAIS_DATABASE_URL=$url RELAIS_DATA_DIR=$work/data RELAIS_SOURCES=$work/sources.toml \
    RELAIS_SECRET=bench-secret-long-enough-0123456789abcdef RUST_LOG=warn
  (cd "$work" && "$bin" migrate >/dev/null)
  echo "== $label: filling $n items"
  start=$(date +%s.%N)
  if [ "$label" = sqlite ]; then
    generate sqlite "$n" "${url#sqlite://}"
  else
    mkdir -p "$work/copy"
    generate pg "$n" "$work/copy"
    psql "$url" -q -v ON_ERROR_STOP=1 -f "$work/copy/load.sql" >/dev/null
  fi
  printf 'fill: %.1f s\n' "$(echo "$(date +%s.%N) - $start" | bc)"

  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  base=http://127.0.0.1:$port
  echo 'banc-essai-veille-2026' | (cd "$work" && "$bin" user add bench@example.org --role editor >/dev/null)
  (cd "$work" && exec env RELAIS_LISTEN="127.0.0.1:$port" RELAIS_BASE_URL="$base" \
    "$bin" serve >"$work/serve-$label.log" 2>&1) &
  server=$!
  for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
  curl -sf -c "$work/cookies" -o /dev/null -d email=bench@example.org -d password=banc-essai-veille-2026 \
    "$base/admin/login"

  echo "== $label: GET /admin/veille, $reps timed requests each (load $(cut -d' ' -f1-3 /proc/loadavg))"
  time_queries "$label" "$base" "" "etat=tous" "q=developpement" "q=eau+senegal" \
    "source=pseau&theme=eau-assainissement" "country=SN&etat=tous" \
    "du=$(date -d '-200 days' +%F)&au=$(date -d '-170 days' +%F)" \
    "limite=$(date -d '-180 days' +%F)&etat=tous" "avant=$((n / 2))" "etat=tous&avant=$((n / 2))"
  kill "$server"; wait "$server" 2>/dev/null || true; server=
}

bench_backend sqlite "sqlite://$work/relais.db"
if ! $sqlite_only; then
  psql "$pg_admin" -qc "drop database if exists $pg_db" -c "create database $pg_db" >/dev/null
  bench_backend postgres "${pg_admin%/*}/$pg_db"
fi

echo "== same-story grouping, 2,000 items (criterion, benches/similar.rs)"
cargo bench --quiet --bench similar -- --warm-up-time 1 --measurement-time 3 >"$work/criterion.log" 2>&1 ||
  { cat "$work/criterion.log"; exit 1; }
grep -h 'groups' "$work/criterion.log" | sed 's/^/  /'
python3 - "$target/criterion" <<'PY'
import json, sys
for bench in ("signature_2000_items", "group_2000_items"):
    ns = json.load(open(f"{sys.argv[1]}/{bench}/new/estimates.json"))["median"]["point_estimate"]
    print(f"  {bench:<22} median {ns / 1e6:8.1f} ms (target < 1 s)")
PY

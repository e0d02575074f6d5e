#!/usr/bin/env bash
# Static audit of real projects installed from PyPI, checked against a direct hop count.
#
#   bash .ci/realprojects.sh            # all projects
#   bash .ci/realprojects.sh wagtail    # one of: wagtail allauth pretix
#
# Each project family gets its own virtualenv under .venvs/ (created on first use, reused
# after), with this package installed editable. Projects are generated in a temporary
# folder; tests/inventory/realproject_check.py audits each one and exits non-zero when the
# audit errors or its predicted hops differ from a real in-process ASGI request.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3.11}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SECONDS=0
FAILED=()

log() { printf '== %s\n' "$*" >&2; }

# venv NAME REQUIREMENT... : create/update .venvs/NAME; reinstall only when the list changes.
venv() {
    local name=$1
    shift
    local dir="$ROOT/.venvs/$name" stamp
    stamp=$(printf '%s\n' "$@" | sha1sum | cut -c1-12)
    if [ ! -x "$dir/bin/python" ]; then
        log "creating $dir"
        "$PYTHON" -m venv "$dir"
    fi
    if [ "$(cat "$dir/.aa-stamp" 2>/dev/null)" != "$stamp" ]; then
        log "installing into $name: $*"
        "$dir/bin/pip" install -q --upgrade pip >"$WORK/pip-$name.log" 2>&1 || { cat "$WORK/pip-$name.log"; return 1; }
        "$dir/bin/pip" install -q "$@" -e "$ROOT" >>"$WORK/pip-$name.log" 2>&1 || { cat "$WORK/pip-$name.log"; return 1; }
        echo "$stamp" >"$dir/.aa-stamp"
    fi
}

check() { # VENV NAME ARGS... : run the checker, remember failures
    local venv=$1 name=$2
    shift 2
    log "auditing $name"
    if ! "$ROOT/.venvs/$venv/bin/python" "$ROOT/tests/inventory/realproject_check.py" --name "$name" "$@"; then
        FAILED+=("$name")
    fi
}

wagtail() {
    venv realprojects "wagtail>=7" "django-allauth[socialaccount]>=65" "django>=5.2,<6.1" whitenoise django-cors-headers
    local site="$WORK/wagtail"
    mkdir -p "$site"
    "$ROOT/.venvs/realprojects/bin/wagtail" start wagtailsite "$site" >/dev/null
    check realprojects wagtail --path "$site" --settings wagtailsite.settings.dev --min-routes 200
}

allauth() {
    venv realprojects "wagtail>=7" "django-allauth[socialaccount]>=65" "django>=5.2,<6.1" whitenoise django-cors-headers
    local site="$WORK/allauth"
    mkdir -p "$site"
    "$ROOT/.venvs/realprojects/bin/django-admin" startproject allauthsite "$site"
    # The documented setups: corsheaders first, whitenoise right after SecurityMiddleware,
    # allauth's middleware last; allauth with a few social providers.
    cat >>"$site/allauthsite/settings.py" <<'PY'

INSTALLED_APPS += [
    "corsheaders",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.openid_connect",
]
MIDDLEWARE.insert(0, "corsheaders.middleware.CorsMiddleware")
MIDDLEWARE.insert(2, "whitenoise.middleware.WhiteNoiseMiddleware")
MIDDLEWARE.append("allauth.account.middleware.AccountMiddleware")
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
STATIC_ROOT = BASE_DIR / "staticfiles"
PY
    cat >"$site/allauthsite/urls.py" <<'PY'
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
]
PY
    check realprojects allauth --path "$site" --settings allauthsite.settings --min-routes 50
}

pretix() {
    venv realprojects-pretix "pretix>=2026.1"
    local site="$WORK/pretix"
    mkdir -p "$site/data"
    cat >"$site/pretix.cfg" <<CFG
[pretix]
instance_name=async-audit check
url=http://localhost
datadir=$site/data

[database]
backend=sqlite3
CFG
    # pretix's middleware reads its settings from the database on every request.
    log "migrating pretix (takes ~2 minutes)"
    PRETIX_CONFIG_FILE="$site/pretix.cfg" "$ROOT/.venvs/realprojects-pretix/bin/python" -m pretix migrate -v0
    PRETIX_CONFIG_FILE="$site/pretix.cfg" check realprojects-pretix pretix --path "$site" \
        --settings pretix.settings --min-routes 900 --urlconf pretix.multidomain.maindomain_urlconf
}

projects=("$@")
[ ${#projects[@]} -gt 0 ] || projects=(wagtail allauth pretix)
for project in "${projects[@]}"; do
    case $project in
    wagtail | allauth | pretix) "$project" ;;
    *)
        echo "unknown project: $project (wagtail, allauth, pretix)" >&2
        exit 2
        ;;
    esac
done

log "done in ${SECONDS}s"
if [ ${#FAILED[@]} -gt 0 ]; then
    echo "FAILED: ${FAILED[*]}" >&2
    exit 1
fi

#!/usr/bin/env bash
# Installs the Debian packages the tests run against (real slapd, Samba AD DC, PostgreSQL,
# restic, borg, Chromium and a CJK font for its screenshots and PDFs),
# only when they are missing, so a warm machine pays nothing.
set -euo pipefail
need=()
[ -x /usr/sbin/slapd ] || need+=(slapd)
command -v ldapsearch >/dev/null || need+=(ldap-utils)
command -v openssl >/dev/null || need+=(openssl)  # the LDAP tests make their CA with it
command -v chromium >/dev/null || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)  # Tryton / Odoo / secret tests
[ -x /usr/sbin/samba ] || need+=(samba)                 # the Active Directory tests run a real AD DC
command -v samba-tool >/dev/null || need+=(samba-ad-dc)
[ -d /usr/share/samba/setup/ad-schema ] || need+=(samba-ad-provision)  # samba-tool domain provision
command -v ldbmodify >/dev/null || need+=(ldb-tools)   # the AD tests load their LDIF offline
command -v restic >/dev/null || need+=(restic)
command -v borg >/dev/null || need+=(borgbackup)
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)  # Chinese in Chromium screenshots / PDFs
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

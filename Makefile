# Heatsite: `make demo` runs the whole thing locally, `make test` runs the whole suite.
# Both install what they need first (Debian packages when missing, a .venv, Python packages)
# and are idempotent.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN := var/run
LOG := var/log
HOST ?= 127.0.0.1
PORT ?= 8000
# The suite runs on this many processes (pytest-xdist, a file's tests stay together; each
# process has its own test database): 2 on the 2-core CI machine.
TEST_PROCESSES ?= 2
REDIS_URL ?= redis://127.0.0.1:6379/0
export REDIS_URL

APT_PACKAGES := redis-server chromium ipmitool swtpm swtpm-tools tpm2-tools libtss2-dev \
	pkg-config qemu-system-x86 ovmf mtools dosfstools fonts-dejavu-core pesign \
	systemd-boot-efi sbsigntool ipxe-qemu poppler-utils redfishtool gettext
# Executables or files that prove each package is there (same order as APT_PACKAGES).
APT_PROBES := /usr/bin/redis-server /usr/bin/chromium /usr/bin/ipmitool /usr/bin/swtpm \
	/usr/bin/swtpm_setup /usr/bin/tpm2_quote /usr/include/tss2/tss2_esys.h \
	/usr/bin/pkg-config /usr/bin/qemu-system-x86_64 /usr/share/OVMF/OVMF_CODE_4M.fd \
	/usr/bin/mcopy /usr/sbin/mkfs.vfat /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf \
	/usr/bin/pesign /usr/lib/systemd/boot/efi /usr/bin/sbsign /usr/lib/ipxe/qemu \
	/usr/bin/pdftotext /usr/bin/redfishtool /usr/bin/msgfmt

.PHONY: help install system-packages venv lock demo test lint stop vendor vendor-redfish-schema \
	benchmarks

help:
	@echo "make demo   install, migrate, seed, start lab + web + workers, print the URL and logins"
	@echo "make test   install, run the whole suite"
	@echo "make stop   stop what make demo started"
	@echo "make lock   re-resolve requirements/heatsite.lock and agent/requirements.lock"

install: system-packages venv

system-packages:
	@missing=""; pkgs=($(APT_PACKAGES)); probes=($(APT_PROBES)); \
	for i in "$${!pkgs[@]}"; do [ -e "$${probes[$$i]}" ] || missing="$$missing $${pkgs[$$i]}"; done; \
	$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || missing="$$missing python3-venv"; \
	[ -e "$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ] \
	  || missing="$$missing python3-dev"; \
	command -v gcc >/dev/null || missing="$$missing build-essential"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; \
	  else echo "error: need root (or sudo) to apt-get install:$$missing" >&2; exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# Python packages come from the lock, hash-checked: exactly what `make lock` resolved. The
# project and the agent are then installed in place without their dependencies (already there)
# and without an isolated build (the locked setuptools builds them).
$(VENV)/.installed: requirements/heatsite.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r requirements/heatsite.lock
	@# setuptools warns on every editable build that a folder may shadow the package: it is ours.
	PYTHONWARNINGS=ignore $(PY) -m pip install -q --no-deps --no-build-isolation -e . -e ./agent
	@touch $@

# Re-resolve the locks from pyproject.toml and agent/pyproject.toml (pip-tools, with hashes).
# `make lock` keeps the pins already in the lock files where they still fit;
# `make lock UPGRADE=1` moves every package to its newest allowed release.
LOCK_OPTS := --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	--no-emit-find-links --no-emit-trusted-host $(if $(UPGRADE),--upgrade)
lock: venv
	$(PY) -m pip install -q 'pip-tools>=7.4,<8'
	$(VENV)/bin/pip-compile $(LOCK_OPTS) --extra dev --output-file requirements/heatsite.lock \
	  pyproject.toml agent/pyproject.toml requirements/build.in
	cd agent && ../$(VENV)/bin/pip-compile $(LOCK_OPTS) --output-file requirements.lock pyproject.toml

venv: $(VENV)/.installed

# E-mails of the demo (alarms, monthly statements) are written as files to var/mail/.
demo: export EMAIL_BACKEND ?= django.core.mail.backends.filebased.EmailBackend
demo: install
	@mkdir -p $(RUN) $(LOG)
	@$(MAKE) -s stop >/dev/null 2>&1 || true
	@$(PY) -c "import redis,os; redis.Redis.from_url(os.environ['REDIS_URL']).ping()" 2>/dev/null \
	  || { echo "Starting Redis"; redis-server --daemonize yes --bind 127.0.0.1 --port 6379 \
	       --save "" --appendonly no --pidfile $(CURDIR)/$(RUN)/redis.pid >/dev/null; sleep 1; }
	$(PY) manage.py migrate --no-input -v0
	$(PY) manage.py seed_demo > $(RUN)/logins.txt
	$(PY) manage.py lab_accept_certificates > $(LOG)/lab-certificates.log
	$(PY) manage.py seed_attestation > $(LOG)/seed-attestation.log
	@# The lab's two firmware releases as signed bundles (the DEMO release key, trusted in
	@# development only), with every lab node's predicted PCRs.
	@for r in 1.4.0 1.5.0; do $(PY) manage.py lab_firmware_bundle --release $$r --out $(RUN)/bundles/$$r \
	  && $(PY) manage.py firmware_bundle add $(RUN)/bundles/$$r/bundle.json --if-new || exit 1; \
	  done > $(LOG)/firmware-bundles.log
	$(PY) manage.py seed_history --days 400 > $(LOG)/seed-history.log
	@# Each partner gets a statement contact; last month's statements go out (to var/mail/).
	$(PY) manage.py statement_mail seed-demo > $(LOG)/statement-mail.log
	$(PY) manage.py statement_mail send >> $(LOG)/statement-mail.log
	@nohup $(PY) manage.py run_lab > $(LOG)/lab.log 2>&1 & echo $$! > $(RUN)/lab.pid
	@nohup $(VENV)/bin/celery -A heatsite worker -l info -c 2 > $(LOG)/worker.log 2>&1 & echo $$! > $(RUN)/worker.pid
	@nohup $(VENV)/bin/celery -A heatsite beat -l info -s $(RUN)/beat-schedule > $(LOG)/beat.log 2>&1 & echo $$! > $(RUN)/beat.pid
	@nohup $(PY) manage.py console_broker > $(LOG)/console.log 2>&1 & echo $$! > $(RUN)/console.pid
	@nohup $(VENV)/bin/daphne -b $(HOST) -p $(PORT) heatsite.asgi:application > $(LOG)/web.log 2>&1 & echo $$! > $(RUN)/web.pid
	@for i in $$(seq 1 50); do curl -sf -o /dev/null http://$(HOST):$(PORT)/login/ && break; sleep 0.2; done
	@# First attestation sweep once the lab's TPM agents are up (then every ATTESTATION_INTERVAL).
	@$(VENV)/bin/celery -A heatsite call --countdown 20 apps.attestation.tasks.attestation_sweep_task >/dev/null
	@# First BMC poll once the lab answers (beat's own comes an interval later): nodes answering
	@# for the first time get their inventory and boot device read (apps/hardware/details.py).
	@$(VENV)/bin/celery -A heatsite call --countdown 5 apps.hardware.tasks.bmc_sweep_task >/dev/null
	@echo
	@echo "Heatsite is running at http://$(HOST):$(PORT)/   (logs in $(LOG)/, stop with: make stop)"
	@echo "Demo logins (username role password [TOTP secret: staff log in with a code from an authenticator app]):"
	@grep -v '^#' $(RUN)/logins.txt | sed 's/^/  /'
	@echo "The staff TOTP secrets as otpauth:// URIs (paste into an authenticator app, e.g. KeePassXC, Aegis):"
	@grep '^# otpauth ' $(RUN)/logins.txt | sed 's/^# otpauth /  /'
	@echo "Passkeys: browsers allow WebAuthn on http://localhost:$(PORT)/ (not on an IP address)"
	@echo "Firmware bundles 1.4.0 and 1.5.0 (in $(RUN)/bundles/) are signed with the DEMO release key"
	@echo "  heatsite-lab-demo: apps/lab/demo_keys/DEMO-firmware-release-ed25519.pem (trusted with DEBUG only)"
	@echo "E-mails (alarms, partners' monthly statements with their PDFs) are files in var/mail/"

stop:
	@for name in web console beat worker lab; do \
	  if [ -f $(RUN)/$$name.pid ]; then kill $$(cat $(RUN)/$$name.pid) 2>/dev/null || true; rm -f $(RUN)/$$name.pid; fi; \
	done

test: install
	$(PY) manage.py makemigrations --check --dry-run -v1
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -n $(TEST_PROCESSES) --dist loadfile $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

benchmarks: install
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# Refresh the vendored front-end packages from the npm registry (committed in static/vendor).
vendor:
	@tmp=$$(mktemp -d); cd $$tmp && npm pack -s bootstrap@5.3 htmx.org@2 plotly.js-dist-min@3 \
	  bootstrap-icons@1 @xterm/xterm@5 @xterm/addon-fit >/dev/null && \
	  for f in *.tgz; do mkdir -p "$${f%.tgz}" && tar xzf "$$f" -C "$${f%.tgz}"; done && \
	  cd $(CURDIR) && V=static/vendor && \
	  cp $$tmp/bootstrap-*/package/dist/css/bootstrap.min.css $$tmp/bootstrap-[0-9]*/package/dist/js/bootstrap.bundle.min.js $$V/bootstrap/ && \
	  cp $$tmp/htmx.org-*/package/dist/htmx.min.js $$V/htmx/ && \
	  cp $$tmp/plotly.js-dist-min-*/package/plotly.min.js $$V/plotly/ && \
	  cp $$tmp/bootstrap-icons-*/package/font/bootstrap-icons.min.css $$V/bootstrap-icons/ && \
	  cp $$tmp/bootstrap-icons-*/package/font/fonts/* $$V/bootstrap-icons/fonts/ && \
	  cp $$tmp/xterm-xterm-*/package/lib/xterm.js $$tmp/xterm-xterm-*/package/css/xterm.css $$V/xterm/ && \
	  cp $$tmp/xterm-addon-fit-*/package/lib/addon-fit.js $$V/xterm/ && \
	  cd $$tmp && npm pack -s plotly.js@2.35.3 >/dev/null && mkdir -p pjs && tar xzf plotly.js-2.35.3.tgz -C pjs && \
	  cd $(CURDIR) && cp $$tmp/pjs/package/dist/topojson/*.json $$V/plotly/topojson/ && \
	  cd $$tmp && npm pack -s plotly.js-locales@3.7.0 >/dev/null && mkdir -p pll && tar xzf plotly.js-locales-3.7.0.tgz -C pll && \
	  cd $(CURDIR) && { printf '/* plotly.js-locales 3.7.0 fr.js (MIT, Plotly, Inc.), wrapped for the browser by `make vendor`:\n   registers the French locale (months, days, decimal comma) with the page'"'"'s Plotly. */\n(function () {\nvar module = { exports: {} };\n'; \
	    cat $$tmp/pll/package/fr.js; printf 'if (window.Plotly) window.Plotly.register(module.exports);\n})();\n'; } > $$V/plotly/plotly-locale-fr.js && rm -rf $$tmp

# Refresh the DMTF Redfish schema digest the lab's conformance tests read (committed in
# tests/lab/dmtf/, see its README): DSP8010 2026.1 as the Apache-2.0 wheel mirastack-redfish-mcp
# 0.1.2 ships it. The wheel and the extracted file are checked against their SHA-256.
REDFISH_DIGEST := mirastack_redfish_mcp-0.1.2-py3-none-any.whl
REDFISH_DIGEST_SHA256 := 460e88c7938d9c5c06216be08084e22adbde7e6b3382d69493d90eb5a282f6cb
REDFISH_INDEX_SHA256 := ed9b413af31a1aec5a6dcf3144dab61db3c83626d6d4147ecea875ffbbd697c9
vendor-redfish-schema: venv
	@tmp=$$(mktemp -d); D=tests/lab/dmtf && \
	  $(PY) -m pip download -q --no-deps --only-binary=:all: -d $$tmp mirastack-redfish-mcp==0.1.2 && \
	  echo "$(REDFISH_DIGEST_SHA256)  $$tmp/$(REDFISH_DIGEST)" | sha256sum -c --quiet && \
	  cd $$tmp && unzip -q $(REDFISH_DIGEST) 'mirastack_redfish_mcp/data/*' '*/licenses/LICENSE' && \
	  cd $(CURDIR) && cp $$tmp/mirastack_redfish_mcp/data/redfish_index.json.gz $$D/ && \
	  cp $$tmp/mirastack_redfish_mcp-0.1.2.dist-info/licenses/LICENSE $$D/LICENSE && \
	  echo "$(REDFISH_INDEX_SHA256)  $$D/redfish_index.json.gz" | sha256sum -c --quiet && rm -rf $$tmp

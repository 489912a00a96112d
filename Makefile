# sso-broker developer tasks. Run `make help` for the list.
#
# Every target that builds first runs `deps`, which installs missing Debian/Ubuntu packages
# (scripts/install-deps.sh) and checks that cargo is installed.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Defaults for the integration-test databases; set the variables in the environment (or on the
# make command line) to use other servers.
PG_TEST_URL_DEFAULT := postgres://postgres@127.0.0.1:5432/postgres
REDIS_TEST_URL_DEFAULT := redis://127.0.0.1:6379

# cargo-nextest when it is installed, cargo test otherwise.
TEST_CMD := if cargo nextest --version >/dev/null 2>&1; then \
		cargo nextest run --no-fail-fast; \
	else \
		cargo test --no-fail-fast; \
	fi

# Prints a database URL with its password hidden.
SHOW_URL = sed -E 's|(://[^:/@]*:)[^@]*@|\1***@|'

.PHONY: help deps demo serve test test-postgres test-redis test-scale test-interop test-browser lint ci bench-load

help:
	@echo "make demo           start the broker on SQLite with demo data (http://127.0.0.1:8080)"
	@echo "make serve          start the broker (configuration from SSO_BROKER_* variables)"
	@echo "make test           run the test suite on SQLite"
	@echo "make test-postgres  run the test suite on PostgreSQL (started locally when needed)"
	@echo "make test-redis     run the test suite on PostgreSQL + Redis (started locally when needed)"
	@echo "make test-scale     two instances on PostgreSQL + Redis behind nginx: every flow crosses instances"
	@echo "make test-interop   interop tests against independent peers (npm oidc-provider, openid-client, jose; pysaml2)"
	@echo "make test-browser   headless Chromium clicks through the demo (screenshots in target/browser-artifacts)"
	@echo "make lint           cargo fmt --check and cargo clippy"
	@echo "make ci             everything CI runs (.ci/run)"
	@echo "make bench-load     bounded load measurement of a release build on loopback (README: Measuring performance)"
	@echo "make deps           install missing build packages (apt-get) and check for cargo"

deps:
	@bash scripts/install-deps.sh

demo: deps
	cargo run --release -- demo

serve: deps
	cargo run --release -- serve

test: deps
	unset SSO_BROKER_TEST_DATABASE_URL SSO_BROKER_TEST_REDIS_URL; \
	$(TEST_CMD)

test-postgres: deps
	bash scripts/ensure-services.sh postgres
	unset SSO_BROKER_TEST_REDIS_URL; \
	export SSO_BROKER_TEST_DATABASE_URL="$${SSO_BROKER_TEST_DATABASE_URL:-$(PG_TEST_URL_DEFAULT)}"; \
	echo "SSO_BROKER_TEST_DATABASE_URL=$$(printf '%s' "$$SSO_BROKER_TEST_DATABASE_URL" | $(SHOW_URL))"; \
	$(TEST_CMD)

test-redis: deps
	bash scripts/ensure-services.sh postgres redis
	export SSO_BROKER_TEST_DATABASE_URL="$${SSO_BROKER_TEST_DATABASE_URL:-$(PG_TEST_URL_DEFAULT)}"; \
	export SSO_BROKER_TEST_REDIS_URL="$${SSO_BROKER_TEST_REDIS_URL:-$(REDIS_TEST_URL_DEFAULT)}"; \
	echo "SSO_BROKER_TEST_DATABASE_URL=$$(printf '%s' "$$SSO_BROKER_TEST_DATABASE_URL" | $(SHOW_URL))"; \
	echo "SSO_BROKER_TEST_REDIS_URL=$$(printf '%s' "$$SSO_BROKER_TEST_REDIS_URL" | $(SHOW_URL))"; \
	$(TEST_CMD)

# Scale-out proof: every test app of the flow suites below is two broker instances on one
# PostgreSQL database and one Redis behind Debian's nginx (installed when missing), balancing
# round robin, so the steps of each sign-in, OP flow, revocation and throttle land on different
# instances (tests/api/helpers/load_balancer.rs). The one test left out reads /metrics, whose
# counters are per instance.
SCALE_SUITES := password_login|totp|entra_sign_in|saml_sign_in|oidc_flow|oidc_token|oidc_authorize|oidc_logout|oidc_backchannel|throttling|instances|user_lifecycle|sessions|trust_between_accounts|admin_consent
test-scale: deps
	bash scripts/ensure-services.sh postgres redis
	bash scripts/install-deps.sh nginx-light
	export SSO_BROKER_TEST_SCALE=nginx; \
	export SSO_BROKER_TEST_DATABASE_URL="$${SSO_BROKER_TEST_DATABASE_URL:-$(PG_TEST_URL_DEFAULT)}"; \
	export SSO_BROKER_TEST_REDIS_URL="$${SSO_BROKER_TEST_REDIS_URL:-$(REDIS_TEST_URL_DEFAULT)}"; \
	cargo nextest run --no-fail-fast -E 'test(/^($(SCALE_SUITES))::/) - test(=entra_sign_in::refused_entra_callbacks_count_in_the_sso_throttle_and_the_metric)'

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

ci:
	bash .ci/run

PYSAML2_VENV := target/pysaml2-venv

# Interop with independent peers: npm oidc-provider (an OP upstream of the broker), npm
# openid-client and jose (RPs of the broker's OP) (need Node.js; installed with npm ci) and PyPI pysaml2 (needs Python 3 and Debian's xmlsec1; installed into a virtualenv under target/).
test-interop: deps
	@command -v node >/dev/null || { echo "error: Node.js (node, npm) is needed for the interop tests" >&2; exit 1; }
	@command -v python3 >/dev/null || { echo "error: Python 3 is needed for the interop tests" >&2; exit 1; }
	cd tests/interop/oidc-provider && npm ci --no-audit --no-fund
	cd tests/interop/openid-client && npm ci --no-audit --no-fund
	bash scripts/install-deps.sh xmlsec1
	python3 -m venv --help >/dev/null 2>&1 || bash scripts/install-deps.sh python3-venv
	test -x $(PYSAML2_VENV)/bin/python3 || python3 -m venv $(PYSAML2_VENV)
	$(PYSAML2_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/interop/pysaml2/requirements.txt
	export SSO_BROKER_PYSAML2_PYTHON="$(CURDIR)/$(PYSAML2_VENV)/bin/python3"; \
	unset SSO_BROKER_TEST_DATABASE_URL SSO_BROKER_TEST_REDIS_URL; \
	if cargo nextest --version >/dev/null 2>&1; then \
		cargo nextest run --no-fail-fast --run-ignored only interop; \
	else \
		cargo test --no-fail-fast --test api interop -- --ignored; \
	fi

# Browser journeys (tests/browser/journey.mjs): Debian's chromium (installed when missing) driven by
# npm playwright-core through `target/debug/sso-broker demo` on free loopback ports: Entra admin
# consent and SSO, SAML metadata import and SSO, TOTP enrollment and sign-in, SSO enforcement,
# and the demo portal signing a password user in through the OpenID Provider.
# Screenshots of every page, and on failure the page's HTML, go to target/browser-artifacts/.
# SSO_BROKER_BIN picks another broker binary; SSO_BROKER_CHROMIUM another browser.
test-browser: deps
	@command -v node >/dev/null || { echo "error: Node.js (node, npm) is needed for the browser test" >&2; exit 1; }
	bash scripts/install-browser.sh
	cd tests/browser && npm ci --no-audit --no-fund
	cargo build
	node tests/browser/journey.mjs

LOAD_VENV := target/load-venv

# Bounded load measurement (scripts/load.py): starts a release `sso-broker demo` on loopback and
# prints each hot path per broker CPU-second next to its reference from the same run. Python 3
# with the packages of scripts/load-requirements.txt in a virtualenv under target/, and the
# Argon2id reference scripts/argon2-bound (the broker's argon2 crate) built into target/. Takes
# about two minutes; never part of `make test` or CI. LOAD_ARGS passes options (--help lists them).
bench-load: deps
	@command -v python3 >/dev/null || { echo "error: Python 3 is needed for make bench-load" >&2; exit 1; }
	python3 -m venv --help >/dev/null 2>&1 || bash scripts/install-deps.sh python3-venv
	test -x $(LOAD_VENV)/bin/python3 || python3 -m venv $(LOAD_VENV)
	$(LOAD_VENV)/bin/pip install --quiet --disable-pip-version-check -r scripts/load-requirements.txt
	cargo build --release --bin sso-broker
	cargo build --release --manifest-path scripts/argon2-bound/Cargo.toml --target-dir target/argon2-bound
	PYTHONDONTWRITEBYTECODE=1 $(LOAD_VENV)/bin/python3 scripts/load.py $(LOAD_ARGS)

# Two commands on a fresh machine: `make run` and `make test`. Both set themselves up first
# (Debian packages, .venv, the project and its extras) and are safe to run again.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Debian packages the tests and the field app need (offscreen Kivy, headless Chromium).
# Kivy renders offscreen through SDL (SDL_VIDEODRIVER=offscreen, Mesa's software GL): no display
# is needed; xvfb is there for running the app's window on a machine without one (xvfb-run).
# xclip gives Kivy's text fields a cut buffer on Linux.
APT_PACKAGES := chromium xvfb xauth libgl1-mesa-dri libegl1 libgl1 libmtdev1 xclip tzdata
SETUP_STAMP := $(VENV)/.setup-done

.PHONY: setup run test lint typecheck pytest fuzz fuzz-images pipeline field-proxy recalibrate \
	field-proxy-policy field-release loop notebooks \
	screenshots clean

$(SETUP_STAMP): pyproject.toml constraints.txt Makefile
	@.ci/apt-ensure $(APT_PACKAGES)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt \
		-e '.[train,api,mobile,dev]'
	@touch $@

setup: $(SETUP_STAMP)

## The main job on embedded defaults: the API service (SQLite under var/, the committed bundle)
## with a demo specialist and grower; prints their credentials and the URLs of the docs and pages.
## It answers at once; the gallery of similar photos is built by the service in the background
## (minutes the first time, then only what changed; /readyz says how far) and packed for the
## field app when it changed. Answers come without similar photos until it is done.
run: setup
	IRIIS_GALLERY_BUILD_ON_START=true iriis serve --demo

## Lint, format check, type check and the whole test suite.
test: setup lint typecheck pytest

lint: setup
	ruff check .
	ruff format --check .

typecheck: setup
	mypy model api mobile

pytest: setup
	pytest

## The load bench (issue 20): 50 growers and 5 specialists for LOAD_MINUTES minutes against
## `iriis serve --workers 2` on PostgreSQL (a database of its own on 127.0.0.1:5432, dropped
## after), the audit, the model's ceiling and the breakdown measured in the same run:
## bench/results/load.json. The gallery is built first (only what changed), as the service
## answers with it.
.PHONY: load
LOAD_MINUTES ?= 5
load: setup
	iriis gallery build
	python -m bench.load --minutes $(LOAD_MINUTES)

## Long fuzzing runs (`make test` runs a short one of each): FUZZ_EXAMPLES inputs per kind.
## fuzz-images: image decoding (hypothesis): random bytes, mutated photos of every accepted
## format, headers announcing huge dimensions; an RGB image or ImageError, in time and memory.
FUZZ_EXAMPLES ?= 5000
fuzz: fuzz-images

fuzz-images: setup
	IRIIS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) pytest -p no:cacheprovider --timeout=3600 tests/test_decode_fuzz.py

## fuzz-api: the API fuzzed from its own OpenAPI schema (schemathesis, every check, stateful
## included) as an anonymous user, a grower and a specialist, FUZZ_API_SECONDS per role, against
## the real server; prints each role's requests, 5xx and responses violating the schema.
.PHONY: fuzz fuzz-api
FUZZ_API_SECONDS ?= 300
fuzz: fuzz-api

fuzz-api: setup
	python -m tests.fuzz_api --max-time $(FUZZ_API_SECONDS)

## faults: the service under faults, FAULT_RUNS runs of each (`make test` runs one): the server
## killed during uploads, PostgreSQL restarted under load (a cluster of the tests' own), the photo
## store full then read-only, the field app killed during a sync; each audited (lost, duplicated,
## orphaned: 0; no 500). Each run's figures in var/faults/*.json, printed as a table at the end.
.PHONY: faults
FAULT_RUNS ?= 3
faults: setup
	rm -rf var/faults
	IRIIS_FAULT_RUNS=$(FAULT_RUNS) pytest -p no:cacheprovider -m faults \
		tests/test_faults.py tests/test_mobile_sync.py
	python -m tests.fault_support

## The DVC pipeline (prepare, and later train, export, evaluate): reruns what changed.
pipeline: setup
	dvc repro

## The field proxy (training/holdout.py): the CPU recipe trained without the bank's apple field
## photos and weed.lantana, released into data/field_proxy/bundles (its graphs, weights and
## figures are committed: rerun only for a new recipe, about 1.5 h on 2 cores), then measured on
## those photos (metrics/field_proxy.json).
PROXY_VERSION ?= field-proxy-2026.12.04
PROXY_ENV := IRIIS_BUNDLES_DIR=data/field_proxy/bundles IRIIS_METRICS_DIR=data/field_proxy/metrics
field-proxy: setup
	iriis train --profile field_proxy --run-dir var/runs/field_proxy
	$(PROXY_ENV) iriis export --weights var/runs/field_proxy/model.pt --version $(PROXY_VERSION)
	$(PROXY_ENV) iriis calibrate --bundle data/field_proxy/bundles/$(PROXY_VERSION)
	$(PROXY_ENV) iriis evaluate --bundle data/field_proxy/bundles/$(PROXY_VERSION)
	iriis evaluate --field-proxy --bundle data/field_proxy/bundles/$(PROXY_VERSION)

## A release of a released network with a new decision policy only (issue 14's rule F, the
## lab-or-field check): its graphs and weights copied from model/bundles/$(FROM), calibrated and
## evaluated again as $(VERSION) (about 20 minutes on 2 cores). The same for the field proxy
## bundle into var/field_proxy_policy, measured on its held-back photos, with the scores for
## wrong answers under shift compared (metrics/shift_scores.json).
FROM ?= 2026.11.26.1
VERSION ?= 2026.12.04.1
recalibrate: setup
	rm -rf model/bundles/$(VERSION)
	cp -r model/bundles/$(FROM) model/bundles/$(VERSION)
	iriis calibrate --bundle model/bundles/$(VERSION)
	iriis evaluate --bundle model/bundles/$(VERSION)

## A release trained on this CPU with issue 14's recipe (params.yaml profile `field`: one epoch
## warm-started from the released network, close-ups inside the leaf, lab leaves on field
## backgrounds), exported, calibrated and evaluated as $(RELEASE) (about 45 minutes on 2 cores).
## Its weights.pt is committed beside the graphs (the server's warm start; phones never fetch it).
RELEASE ?= 2026.12.07
field-release: setup
	rm -rf model/bundles/$(RELEASE)
	iriis train --profile field --run-dir var/runs/field-$(RELEASE)
	iriis export --weights var/runs/field-$(RELEASE)/model.pt --version $(RELEASE)
	iriis calibrate --bundle model/bundles/$(RELEASE)
	iriis evaluate --bundle model/bundles/$(RELEASE)

## Issue 15's loop on the field proxy through the real service (training/loop.py): growers send
## the proxy's held-back orchard photos of the train split, a specialist answers, iriis retrain
## runs after 25, 50 and 100 cases, and the served network is scored on the held-back val and
## test photos: metrics/loop.json, rebuilt from nothing in var/loop (about 30 minutes a step).
loop: setup
	python -m training.loop

PROXY_POLICY := var/field_proxy_policy
field-proxy-policy: setup
	rm -rf $(PROXY_POLICY) && mkdir -p $(PROXY_POLICY)/metrics
	cp -r data/field_proxy/bundles/$(PROXY_VERSION) $(PROXY_POLICY)/
	IRIIS_METRICS_DIR=$(PROXY_POLICY)/metrics iriis calibrate --bundle $(PROXY_POLICY)/$(PROXY_VERSION)
	IRIIS_METRICS_DIR=$(PROXY_POLICY)/metrics iriis evaluate --field-proxy --bundle $(PROXY_POLICY)/$(PROXY_VERSION)
	IRIIS_METRICS_DIR=$(PROXY_POLICY)/metrics python -m training.shift_scores $(PROXY_POLICY)/$(PROXY_VERSION)

## Re-execute the analyses of notebooks/ in place, outputs embedded (a few minutes).
notebooks: setup
	$(BIN)/python notebooks/execute.py

## A picture of every screen of the field app, with real answers, into docs/screenshots/ (the
## gallery pack of similar photos first: a first build embeds the bank, minutes; then seconds).
screenshots: setup
	iriis gallery build
	iriis gallery pack
	iriis app --screenshots docs/screenshots

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

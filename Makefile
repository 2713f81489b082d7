# RadAssist: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_OUT ?= demo-output
# torch/torchvision pinned to the builds this machine keeps on disk (see README, "Install").
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1

.PHONY: venv demo test test-fast test-browser browser-tools desktop-tools dicom-tools lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_PINS)
	$(BIN)/python -m pip install --quiet -e ".[ml,slicer,dicom-write,batch,dev]" $(TORCH_PINS)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/radassist demo --out $(DEMO_OUT)

test: $(STAMP) browser-tools desktop-tools dicom-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

# The Station's browser tests: Debian's chromium (apt, as root or through sudo) and playwright-core (npm ci).
BROWSER_STAMP := Testing/browser/node_modules/.installed-stamp
browser-tools: $(BROWSER_STAMP)

$(BROWSER_STAMP): Testing/browser/package.json Testing/browser/package-lock.json
	test -x /usr/bin/chromium || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	cd Testing/browser && npm ci --no-audit --no-fund --silent
	touch $(BROWSER_STAMP)

# The desktop host test: Debian's Xvfb gives it an X display for a real VTK OpenGL window.
desktop-tools:
	command -v Xvfb >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq xvfb >/dev/null; }

# DICOM SEG and SR are validated as receiving systems would: dciodvfy from Debian's dicom3tools.
dicom-tools:
	command -v dciodvfy >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq dicom3tools >/dev/null; }

test-browser: $(STAMP) browser-tools
	$(BIN)/python -m pytest -m browser -s

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not models and not browser"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/radassist bench io
	$(BIN)/radassist bench brain
	$(BIN)/radassist bench crm
	$(BIN)/radassist bench spine
	$(BIN)/radassist bench breast-us
	$(BIN)/radassist bench desktop
	$(BIN)/radassist bench batch

clean:
	rm -rf $(DEMO_OUT) build *.egg-info AssistCore/*.egg-info

# pixaudit: `make demo` and `make test` are the Quick start (see README).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DEMO_ADDR := 127.0.0.1:8000
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.txt | cut -c1-12)

.PHONY: install demo test lint format docs serve clean

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

# Migrate, load catalogs, create demo users, collect from the bundled sandbox, then serve.
# NO_SERVE=1 does everything but serving (and the demo's last lines say how to serve).
demo: install
	$(BIN)/python manage.py migrate --noinput
ifeq ($(NO_SERVE),)
	$(BIN)/python manage.py demo --then-serve $(DEMO_ADDR)
	$(BIN)/python manage.py runserver $(DEMO_ADDR)
else
	$(BIN)/python manage.py demo
endif

test: install lint
	scripts/run_tests.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Regenerate docs/collectors.md from the collectors' declarations (a test fails when stale).
docs: install
	$(BIN)/python manage.py collectors --doc

serve: install
	$(BIN)/python manage.py runserver $(DEMO_ADDR)

clean:
	rm -rf $(VENV) var

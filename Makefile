PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The demo uses a SQLite file under var/ unless DATABASE_URL is set; tests use PostgreSQL.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/picks

.PHONY: install services run test lint fmt bench fuzz compose-check

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

services:
	bash deploy/ensure-services.sh

run: install services
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py generate_demo_data
	$(BIN)/python manage.py run_pipeline
	# the refresher beside the server, stopped with it
	$(BIN)/python manage.py refresh_users & refresher=$$!; \
		trap 'kill $$refresher 2>/dev/null' EXIT INT TERM; \
		$(BIN)/python manage.py runserver 127.0.0.1:8000

test: install services
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install services
	$(BIN)/python bench/import_orders.py
	$(BIN)/python bench/quality_online_retail.py
	$(BIN)/python bench/blend_scale.py
	$(BIN)/python bench/basket_online_retail.py
	$(BIN)/python bench/als_path.py
	$(BIN)/python bench/redis_publish.py
	$(BIN)/python bench/redis_publish.py --length 20
	$(BIN)/python bench/similar_online_retail.py
	$(BIN)/python bench/mf_swipes.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/freshness.py
	$(BIN)/python bench/freshness_online_retail.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/spark_engine.py

fuzz: install services
	$(BIN)/python bench/fuzz.py

compose-check:
	SECRET_KEY=check POSTGRES_PASSWORD=check MINIO_ROOT_USER=check MINIO_ROOT_PASSWORD=check \
		docker-compose config --quiet

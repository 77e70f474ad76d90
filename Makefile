# The two commands README.md documents: `make demo` (JupyterLab with the demo notebook) and `make test`.
VENV := .venv
PORT ?= 8888

.PHONY: demo test bench

demo:
	bash .ci/setup
	HF_HUB_OFFLINE=1 $(VENV)/bin/jupyter lab notebooks/demo.ipynb --ServerApp.ip=127.0.0.1 \
		--ServerApp.port=$(PORT) --LabApp.default_url=/lab/tree/demo.ipynb --allow-root

test:
	bash .ci/setup --test
	cd js && npm test
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest -ra

bench:
	bash .ci/setup
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

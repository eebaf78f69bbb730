# Shortcuts for the README's two commands.
.PHONY: run test
run:
	bash scripts/quickstart.sh
test:
	bash scripts/test.sh

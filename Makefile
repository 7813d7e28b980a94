# Signalbox: the two commands a newcomer needs are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: demo test bench tools build stack-up stack-down lint

## Set up everything, start the local AWS emulator and identity provider, seed them, start the console.
demo:
	scripts/demo

## Every test: formatting, unit and integration tests (SQLite and PostgreSQL, AWS through moto), browser tests.
test:
	scripts/test

## Benchmarks (not tests): a table of figures beside their targets, also in target/bench/results.md.
bench:
	scripts/bench

## Install the toolchain pieces, browser and local-stack packages (idempotent).
tools:
	scripts/install-tools

## Build the console (server and hydrating wasm) in debug mode.
build: tools
	cargo leptos build --split

stack-up:
	end2end/stack/stack up

stack-down:
	end2end/stack/stack down

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p app --lib --target wasm32-unknown-unknown --no-default-features --features hydrate -- -D warnings

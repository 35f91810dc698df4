#!/bin/sh
# test-app-single-instance.sh — Hilum is one instance per session: a second `hilum FOLDER` hands the
# folder to the running one over D-Bus (GApplication "open") and exits, the running window opens
# the study and its actions are reachable as org.gtk.Actions. Run inside a display and a session
# bus: xvfb-run -a dbus-run-session -- test-app-single-instance.sh HILUM TEST_APP_GUI.
# Exit 77 (skipped) without the shared study.
set -eu
hilum=$1
test_app_gui=$2
study="${HL_SHARED_DATA:-../shared/data}/studies/patient-00003140"
if [ ! -d "$study" ]; then
  echo "skipped: the shared study $study is absent"
  exit 77
fi

tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$test_app_gui" --write-model "$tmp/model.safetensors"
export GSETTINGS_BACKEND=memory NO_AT_BRIDGE=1 HILUM_MODEL="$tmp/model.safetensors"

"$hilum" &
pid=$!
dest=org.hilum.Hilum
window=/org/hilum/Hilum/window/1

# Waits (up to 30 s) until window action $1 is enabled.
wait_enabled () {
  i=0
  while [ $i -lt 300 ]; do
    if gdbus call --session --dest $dest --object-path $window \
         --method org.gtk.Actions.Describe "$1" 2>/dev/null | grep -q '^((true,'; then
      return 0
    fi
    sleep 0.1
    i=$((i + 1))
  done
  echo "window action $1 never became enabled"
  return 1
}

wait_enabled open-folder
if gdbus call --session --dest $dest --object-path $window \
     --method org.gtk.Actions.Describe export-study | grep -q '^((true,'; then
  echo "a study was open before the second instance ran"
  exit 1
fi
# The second instance forwards the folder and exits at once.
timeout 20 "$hilum" "$study"
echo "second instance exited"
wait_enabled export-study
echo "the running instance opened the study"
gdbus call --session --dest $dest --object-path /org/hilum/Hilum \
  --method org.gtk.Actions.Activate quit '[]' '{}' > /dev/null
wait "$pid"
echo "quit over D-Bus"

#!/usr/bin/env bash
# A device key that never leaves the TPM, end to end, against a software TPM (swtpm):
# make a persistent P-256 key at 0x81000001, a CSR signed by it (openssl with the tpm2 provider),
# a certificate for it from a test CA (openssl), then `fieldagent certs check` and the agent
# itself with `--key handle:0x81000001` connect over mutual TLS to LocalHub and to Mosquitto, and
# telemetry arrives at both. No file holds the device key: the script asserts it.
#
# tpm2-abrmd sits in front of swtpm on a private D-Bus session bus: swtpm has three transient
# object slots, and a TLS handshake through the tpm2 provider runs out of them without a resource
# manager. Every port is found free at run time; everything listens on 127.0.0.1.
#
# Usage: scripts/tpm-key-check.sh   (builds fieldagent and localhub; work files in a temp folder)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
install_packages "${tpm_packages[@]}"
start=$SECONDS

swift build --product fieldagent >/dev/null
swift build --product localhub >/dev/null
bin=$(swift build --show-bin-path)
work=$(mktemp -d /tmp/fieldagent-tpm.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR
fail() {
    echo "tpm-key-check: FAILED: $*" >&2
    for log in "$work"/*.log; do echo "--- $log"; tail -15 "$log"; done >&2
    exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
device=tpm-device
handle=0x81000001

echo "== swtpm, a persistent P-256 key at $handle"
mkdir -p "$work/tpm"
# The swtpm TCTI talks to its control channel on the next port: find two free ones in a row.
tpm_port=$(python3 -c '
import socket
while True:
    a, b = socket.socket(), socket.socket()
    a.bind(("127.0.0.1", 0))
    try:
        b.bind(("127.0.0.1", a.getsockname()[1] + 1))
        print(a.getsockname()[1]); break
    except OSError:
        pass
    finally:
        a.close(); b.close()')
ctrl_port=$((tpm_port + 1))
# --daemon returns once the sockets are bound; startup-clear sends TPM2_Startup itself.
swtpm socket --tpm2 --server type=tcp,port="$tpm_port",bindaddr=127.0.0.1 \
    --ctrl type=tcp,port="$ctrl_port",bindaddr=127.0.0.1 --flags not-need-init,startup-clear \
    --tpmstate dir="$work/tpm" --pid file="$work/swtpm.pid" --log file="$work/swtpm.log" --daemon
pids+=("$(cat "$work/swtpm.pid")")
export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$tpm_port"
(
    cd "$work"
    tpm2_createprimary -Q -C o -g sha256 -G ecc -c primary.ctx
    tpm2_create -Q -C primary.ctx -G ecc256 -u key.pub -r key.priv
    tpm2_flushcontext -t
    tpm2_load -Q -C primary.ctx -u key.pub -r key.priv -c key.ctx
    tpm2_evictcontrol -Q -C o -c key.ctx "$handle"
    tpm2_flushcontext -t
    # What tpm2_create wrote is the key wrapped by the TPM; with the key persistent it goes too.
    rm -f primary.ctx key.ctx key.pub key.priv
)

echo "== tpm2-abrmd in front of swtpm (private D-Bus session bus)"
dbus-daemon --session --fork --print-address=3 --print-pid=4 3>"$work/dbus.address" 4>"$work/dbus.pid"
export DBUS_SESSION_BUS_ADDRESS=$(cat "$work/dbus.address")
pids+=("$(cat "$work/dbus.pid")")
tpm2-abrmd --session --allow-root --tcti="$TPM2TOOLS_TCTI" >"$work/abrmd.log" 2>&1 &
pids+=($!)
timeout 20 gdbus wait --session --timeout 15 com.intel.tss2.Tabrmd || fail "tpm2-abrmd did not come up"
export TPM2TOOLS_TCTI=tabrmd:bus_type=session TPM2OPENSSL_TCTI=tabrmd:bus_type=session
tpm2_getcap handles-persistent | grep -q "$handle" || fail "no persistent key at $handle"

echo "== CSR signed in the TPM, certificate from a test CA"
(
    cd "$work"
    ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 90 -subj "/CN=FieldAgent TPM test CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    openssl req -provider tpm2 -provider default -new -key "handle:$handle" -subj "/CN=$device" -out device.csr
    openssl req -in device.csr -noout -verify 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in device.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 60 -extfile client.ext \
        -out device.pem 2>/dev/null
    for name in server reader; do
        openssl req -new "${ec[@]}" -keyout "$name.key" -subj "/CN=$([ $name = server ] && echo localhost || echo reader)" \
            -out "$name.csr" 2>/dev/null
        [ $name = server ] && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$name.ext" \
            || cp client.ext "$name.ext"
        openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile "$name.ext" \
            -out "$name.pem" 2>/dev/null
    done
    chmod 600 ./*.key
)

echo "== fieldagent certs check --key handle:$handle"
"$bin/fieldagent" certs check --cert "$work/device.pem" --key "handle:$handle" --ca "$work/ca.pem" \
    --device-id "$device" | tee "$work/certs-check.out" || fail "certs check"
grep -Eq '^OK +key location +held by the TPM at handle:0x81000001' "$work/certs-check.out" \
    || fail "certs check does not say the key is held by the TPM"

common=(--board boards/sim-factory-line.yaml --time-scale 10 --expected-host-name localhost
        --cert "$work/device.pem" --key "handle:$handle" --ca "$work/ca.pem" --device-id "$device" --log-level notice)

echo "== LocalHub: the agent connects with the TPM key, telemetry arrives"
hub_port=$(free_port)
hub=(--state-dir "$work/localhub")
"$bin/localhub" serve "${hub[@]}" --port "$hub_port" --cert "$work/server.pem" --key "$work/server.key" \
    --log-level warning >"$work/localhub.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -S $work/localhub/admin.sock ]] && break; sleep 0.1; done
"$bin/localhub" device add "${hub[@]}" "$device" --ca "$work/ca.pem" >/dev/null || fail "localhub device add"
timeout 60 "$bin/localhub" tail "${hub[@]}" "$device" 2>/dev/null | head -n 3 >"$work/localhub-telemetry.out" &
tail_pid=$!
"$bin/fieldagent" run "${common[@]}" --hub "127.0.0.1:$hub_port" --state-dir "$work/agent-localhub" \
    >/dev/null 2>"$work/agent-localhub.log" &
agent=$!
pids+=($agent)
wait "$tail_pid" || true
kill "$agent" 2>/dev/null || true
[ "$(wc -l <"$work/localhub-telemetry.out")" -eq 3 ] || fail "no telemetry at LocalHub"
echo "   $(wc -l <"$work/localhub-telemetry.out") messages at LocalHub"

echo "== Mosquitto (mutual TLS, identity as user name): the agent connects with the TPM key"
mq_port=$(free_port)
cat >"$work/mosquitto.conf" <<EOF
per_listener_settings true
persistence false
user root
log_dest file $work/mosquitto.log
listener $mq_port 127.0.0.1
cafile $work/ca.pem
certfile $work/server.pem
keyfile $work/server.key
require_certificate true
use_identity_as_username true
allow_anonymous false
EOF
/usr/sbin/mosquitto -c "$work/mosquitto.conf" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "Opening ipv4 listen socket on port $mq_port" "$work/mosquitto.log" 2>/dev/null && break; sleep 0.1; done
timeout 60 mosquitto_sub -h 127.0.0.1 -p "$mq_port" --cafile "$work/ca.pem" --cert "$work/reader.pem" \
    --key "$work/reader.key" -t "devices/$device/messages/events/#" -C 3 -v >"$work/mosquitto-telemetry.out" &
sub_pid=$!
pids+=($sub_pid)
# The subscriber is in before the agent publishes: its connection shows in the broker's log.
for _ in $(seq 100); do grep -q "u'reader'" "$work/mosquitto.log" 2>/dev/null && break; sleep 0.1; done
"$bin/fieldagent" run "${common[@]}" --hub "127.0.0.1:$mq_port" --state-dir "$work/agent-mosquitto" \
    >/dev/null 2>"$work/agent-mosquitto.log" &
agent=$!
pids+=($agent)
wait "$sub_pid" || true
kill "$agent" 2>/dev/null || true
[ "$(wc -l <"$work/mosquitto-telemetry.out")" -eq 3 ] || fail "no telemetry at Mosquitto"
grep -q "u'$device'" "$work/mosquitto.log" || fail "Mosquitto did not see the client certificate CN=$device"
echo "   $(wc -l <"$work/mosquitto-telemetry.out") messages at Mosquitto from CN=$device"

echo "== no file holds the device key"
# Every private key in the work folder (the agents' state included) is one of the three made for
# the test's servers and CA, and none of them belongs to the device certificate.
device_pub=$(openssl x509 -in "$work/device.pem" -noout -pubkey)
keys=$(grep -rlE -- '-----BEGIN ([A-Z]+ )?PRIVATE KEY-----' "$work" | sort | tr '\n' ' ')
[ "$keys" = "$work/ca.key $work/reader.key $work/server.key " ] || fail "unexpected key files: $keys"
for key in $keys; do
    [ "$(openssl pkey -in "$key" -pubout)" != "$device_pub" ] || fail "$key is the device key"
done
[ -z "$(find "$work" -name '*.priv' -o -name '*.ctx')" ] || fail "TPM key blobs left behind"
echo "tpm-key-check: passed in $((SECONDS - start)) s"

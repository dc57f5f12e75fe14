#!/usr/bin/env python3
"""Certificate issuance end to end with a third-party MQTT client (paho-mqtt 1.x, as the Azure
SDK ships it), since the Azure Python SDK sends no CSR: registers at LocalHub's DPS with the
onboarding certificate and a CSR, takes the issued certificate, then connects to the hub with it
and the CSR's key (EC P-384) and sends one message.

Usage: dps_issuance_client.py DPS_PORT HUB_PORT ID_SCOPE REGISTRATION_ID CERT KEY ROOT_CA CSR_DER CSR_KEY OUT_DIR

Prints "STEP name detail" lines for DpsThirdPartyTests; exit 0 when every step passed.
"""
import base64
import json
import queue
import ssl
import sys

import paho.mqtt.client as paho


def client(client_id, username, cert, key, root, port):
    answers = queue.Queue()
    mqtt = paho.Client(client_id=client_id, clean_session=True, protocol=paho.MQTTv311)
    mqtt.username_pw_set(username)
    mqtt.tls_set(ca_certs=root, certfile=cert, keyfile=key, cert_reqs=ssl.CERT_REQUIRED)
    mqtt.on_message = lambda _c, _u, message: answers.put(message)
    mqtt.on_publish = lambda _c, _u, mid: answers.put(("puback", mid))
    mqtt.connect("localhost", port)
    mqtt.loop_start()
    return mqtt, answers


def main():
    (dps_port, hub_port, scope, registration_id, cert, key, root, csr_file, csr_key, out) = sys.argv[1:11]
    with open(csr_file, "rb") as handle:
        csr = base64.b64encode(handle.read()).decode()
    dps, answers = client(registration_id, scope + "/registrations/" + registration_id + "/api-version=2025-07-01-preview",
                          cert, key, root, int(dps_port))
    dps.subscribe("$dps/registrations/res/#", qos=1)
    dps.publish("$dps/registrations/PUT/iotdps-register/?$rid=1",
                json.dumps({"registrationId": registration_id, "csr": csr}), qos=1)
    while True:
        message = answers.get(timeout=10)
        if isinstance(message, tuple):
            continue
        break
    body = json.loads(message.payload)
    print("STEP register " + message.topic.split("/")[3] + " " + str(body.get("status")), flush=True)
    dps.publish("$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=" + body["operationId"], "", qos=0)
    message = answers.get(timeout=10)
    while isinstance(message, tuple):
        message = answers.get(timeout=10)
    body = json.loads(message.payload)
    state = body["registrationState"]
    chain = state.get("issuedCertificateChain") or []
    print("STEP assigned " + str(body.get("status")) + " " + state["assignedHub"] + " " + str(len(chain)), flush=True)
    dps.disconnect()
    dps.loop_stop()

    issued = out + "/issued-chain.pem"
    with open(issued, "w") as handle:
        for der in chain:
            handle.write(ssl.DER_cert_to_PEM_cert(base64.b64decode(der)))
    hub, answers = client(state["deviceId"], state["assignedHub"] + "/" + state["deviceId"] + "/?api-version=2021-04-12",
                          issued, csr_key, root, int(hub_port))
    info = hub.publish("devices/" + state["deviceId"] + "/messages/events/", '{"issued":true}', qos=1)
    while True:
        answer = answers.get(timeout=10)
        if isinstance(answer, tuple) and answer[1] == info.mid:
            break
    print("STEP hub acknowledged", flush=True)
    hub.disconnect()
    hub.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

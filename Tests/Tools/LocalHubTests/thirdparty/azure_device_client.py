#!/usr/bin/env python3
"""A third-party IoT Hub device client against LocalHub: Microsoft's Azure IoT Python device SDK
(pip package azure-iot-device, 2.x) with X.509, exactly as it would talk to Azure IoT Hub.

Usage: azure_device_client.py PORT DEVICE_ID CERT KEY ROOT_CA [websockets]

Connects, sends telemetry, gets the twin, patches reported properties, waits for a desired
patch and answers a direct method. It prints one line per step ("STEP name detail") so the
Swift test (LocalHubThirdPartyTests) can drive the hub side in between: it sets a desired
property once it sees "STEP ready-for-desired" and invokes a method after
"STEP ready-for-method". Exit 0 when every step passed.

The SDK always connects to port 8883 (hard-coded in its MQTT transport); LocalHub tests run on
a free port, so paho's connect() is wrapped to put the test's port in place of 8883. With
"websockets" the SDK runs MQTT over WebSockets (websockets=True: port 443, /$iothub/websocket,
hard-coded too), and the same wrapper puts the test's port in place of 443. Nothing else of the
SDK is touched.
"""
import sys
import threading

import paho.mqtt.client as paho
from azure.iot.device import IoTHubDeviceClient, Message, MethodResponse, X509


def main():
    port, device_id, cert, key, root = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    websockets = len(sys.argv) > 6 and sys.argv[6] == "websockets"

    original_connect = paho.Client.connect

    def connect(self, *args, **kwargs):
        if kwargs.get("port") in (8883, 443):
            kwargs["port"] = port
        return original_connect(self, *args, **kwargs)

    paho.Client.connect = connect

    with open(root) as handle:
        root_pem = handle.read()
    client = IoTHubDeviceClient.create_from_x509_certificate(
        hostname="localhost", device_id=device_id, x509=X509(cert_file=cert, key_file=key),
        server_verification_cert=root_pem, connection_retry=False, websockets=websockets)

    desired = threading.Event()
    desired_patch = {}

    def on_desired(patch):
        desired_patch.update(patch)
        desired.set()

    def on_method(request):
        payload = {"method": request.name, "echo": request.payload}
        client.send_method_response(MethodResponse.create_from_method_request(request, 200, payload))

    client.on_twin_desired_properties_patch_received = on_desired
    client.on_method_request_received = on_method
    client.connect()
    print("STEP connected", flush=True)

    message = Message('{"temperature":21.5,"source":"azure-iot-device"}', message_id="py-1",
                      content_encoding="utf-8", content_type="application/json")
    message.custom_properties["sdk"] = "python"
    client.send_message(message)
    print("STEP telemetry sent", flush=True)

    twin = client.get_twin()
    print("STEP twin " + str(twin["desired"]["$version"]) + " " + str(twin["reported"]["$version"]), flush=True)

    client.patch_twin_reported_properties({"sdk": "azure-iot-device", "ok": True})
    print("STEP reported patched", flush=True)

    print("STEP ready-for-desired", flush=True)
    if not desired.wait(20):
        print("STEP FAIL no desired patch within 20 s", flush=True)
        return 1
    print("STEP desired " + str(desired_patch.get("$version")) + " " + str(desired_patch.get("sendFrequency")), flush=True)

    print("STEP ready-for-method", flush=True)
    # The method handler answers on the SDK's thread; wait for the hub side to say it got it.
    sys.stdin.readline()
    client.shutdown()
    print("STEP done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

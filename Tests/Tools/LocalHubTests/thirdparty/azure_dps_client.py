#!/usr/bin/env python3
"""A third-party DPS device client against LocalHub's DPS endpoint: Microsoft's Azure IoT Python
device SDK (pip package azure-iot-device, 2.x) with X.509, exactly as it would talk to Azure DPS.

Usage: azure_dps_client.py DPS_PORT HUB_PORT ID_SCOPE REGISTRATION_ID CERT KEY ROOT_CA

Registers with ProvisioningDeviceClient, then connects with IoTHubDeviceClient to the hub DPS
assigned and sends one message. Prints one line per step ("STEP name detail") for the Swift test
(DpsThirdPartyTests); exit 0 when every step passed.

The SDK always connects to port 8883 (hard-coded in its MQTT transport, for DPS and IoT Hub
alike); LocalHub's tests run both on free ports, so paho's connect() is wrapped to put the DPS
port in place of 8883 while registering and the hub port afterwards. Nothing else of the SDK is
touched.
"""
import sys

import paho.mqtt.client as paho
from azure.iot.device import IoTHubDeviceClient, Message, ProvisioningDeviceClient, X509


def main():
    dps_port, hub_port, id_scope, registration_id, cert, key, root = (
        int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7])
    target = {"port": dps_port}
    original_connect = paho.Client.connect

    def connect(self, *args, **kwargs):
        if kwargs.get("port") == 8883:
            kwargs["port"] = target["port"]
        return original_connect(self, *args, **kwargs)

    paho.Client.connect = connect

    with open(root) as handle:
        root_pem = handle.read()
    provisioning = ProvisioningDeviceClient.create_from_x509_certificate(
        provisioning_host="localhost", registration_id=registration_id, id_scope=id_scope,
        x509=X509(cert_file=cert, key_file=key), server_verification_cert=root_pem, websockets=False)
    provisioning.provisioning_payload = {"model": "fieldagent-test"}
    result = provisioning.register()
    state = result.registration_state
    print("STEP registered " + str(result.status) + " " + str(state.assigned_hub if state else None) + " "
          + str(state.device_id if state else None), flush=True)
    if result.status != "assigned":
        return 1

    target["port"] = hub_port
    client = IoTHubDeviceClient.create_from_x509_certificate(
        hostname=state.assigned_hub, device_id=state.device_id, x509=X509(cert_file=cert, key_file=key),
        server_verification_cert=root_pem, connection_retry=False)
    client.connect()
    client.send_message(Message('{"provisioned":true,"source":"azure-iot-device"}', message_id="dps-1"))
    client.shutdown()
    print("STEP done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

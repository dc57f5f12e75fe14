// libFuzzer harness for LocalHub's device session (Sources/Tools/LocalHub/HubSession.swift, a pure
// state machine): bytes from an unauthenticated TLS peer, decoded by the MQTT decoder as LocalHub
// does, fed to a fresh session; then the same bytes again to a session whose CONNECT was accepted.
// Compiled with HubSession.swift and Sources/CloudLink/IoTHub, MQTT and DeviceID into one module by
// scripts/fuzz.sh.
//
// Properties checked (a violation traps, which libFuzzer reports as a crash):
// 1. Decoding and the session never crash, whatever the bytes.
// 2. Before authentication the session only asks to authenticate, answers CONNACK, notes, closes
//    or schedules its timer: nothing is stored, no twin or method traffic, no device marked
//    connected; a first packet other than CONNECT closes the connection.
// 3. Every packet the session asks to send encodes; a closed session ignores every later event.
// 4. Telemetry it stores belongs to the authenticated device and carries no device-written
//    `iothub-*` property, and a `$.cdid` carries the authenticated device id.

@_cdecl("LLVMFuzzerTestOneInput")
public func hubSessionFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var decoder = MQTTDecoder(maximumPacketSize: 64 * 1024)
    decoder.append(bytes[...])
    var packets: [MQTTPacket] = []
    while packets.count < 64, let packet = try? decoder.next() { packets.append(packet) }

    // Pre-auth: no decision arrives, so nothing past CONNECT may be acted on.
    var preAuth = HubSession(now: .zero)
    var actions = preAuth.start()
    for (index, packet) in packets.enumerated() {
        let step = preAuth.handle(.packet(packet), now: .seconds(index))
        if index == 0, !isConnect(packet), !step.contains(where: isClose) {
            fatalError("first packet \(packet) did not close an unauthenticated connection: \(step)")
        }
        actions += step
    }
    actions += preAuth.handle(.tick, now: .seconds(11))
    for action in actions {
        switch action {
        case .send(let packet):
            guard case .connAck = packet else { fatalError("unauthenticated peer was sent \(packet)") }
        case .authenticate, .note, .close, .scheduleTick:
            break
        default:
            fatalError("unauthenticated peer caused \(action)")
        }
    }
    checkSends(actions)
    if preAuth.isClosed {
        let after = preAuth.handle(.tick, now: .seconds(12)) + preAuth.handle(.authenticated(.accepted(deviceID: "x")), now: .seconds(12))
        guard after.isEmpty else { fatalError("a closed session still acts: \(after)") }
    }

    // Authenticated: CONNECT accepted, then the bytes as the device's traffic.
    let device = "fuzz-device"
    var session = HubSession(now: .zero)
    var connected = session.start()
    let connect = MQTTPacket.connect(.init(clientID: device, cleanSession: true, keepAliveSeconds: 0))
    connected += session.handle(.packet(connect), now: .zero)
    connected += session.handle(.authenticated(.accepted(deviceID: device)), now: .zero)
    for (index, packet) in packets.enumerated() {
        connected += session.handle(.packet(packet), now: .milliseconds(index))
    }
    connected += session.handle(.connectionLost, now: .seconds(1))
    checkSends(connected)
    for case .storeTelemetry(let message) in connected {
        guard message.deviceID == device else { fatalError("telemetry stored for \(message.deviceID)") }
        guard !message.properties.entries.contains(where: { $0.name.lowercased().hasPrefix("iothub-") && $0.name != "iothub-MessageType" }),
              message.properties.entries.filter({ $0.name == "$.cdid" }).allSatisfy({ $0.value == device }) else {
            fatalError("stored telemetry keeps device-written reserved properties: \(message.properties)")
        }
    }
    return 0
}

private func isConnect(_ packet: MQTTPacket) -> Bool {
    if case .connect = packet { true } else { false }
}

private func isClose(_ action: HubSession.Action) -> Bool {
    if case .close = action { true } else { false }
}

private func checkSends(_ actions: [HubSession.Action]) {
    for case .send(let packet) in actions {
        do {
            _ = try MQTTEncoder.encode(packet)
        } catch {
            fatalError("the session asked to send \(packet), which does not encode: \(error)")
        }
    }
}

// libFuzzer harness for the MQTT 3.1.1 decoder (and what it feeds: the encoder and the client
// session). Compiled together with Sources/CloudLink/MQTT/*.swift into one module by scripts/fuzz.sh,
// so it uses the module's internals without an import.
//
// Properties checked on every input (a violation traps, which libFuzzer reports as a crash):
// 1. The decoder never crashes, whatever the bytes.
// 2. Feeding the input whole or in small chunks gives the same packets and the same error.
// 3. Every packet the strict decoder accepts, the encoder accepts, and it decodes back to
//    itself (encoder and decoder agree on the rules).
// 4. A connected client session fed the bytes never crashes, and every packet it asks to send
//    encodes.

@_cdecl("LLVMFuzzerTestOneInput")
public func mqttDecoderFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let maximum = 64 * 1024

    let whole = drain(feeding: [bytes[...]], maximumPacketSize: maximum)
    let chunk = 1 + Int(bytes.first ?? 0) % 7
    let pieces = stride(from: 0, to: bytes.count, by: chunk).map { bytes[$0..<min($0 + chunk, bytes.count)] }
    let split = drain(feeding: pieces, maximumPacketSize: maximum)
    guard whole.packets == split.packets, whole.error == split.error else {
        fatalError("whole feed gave \(whole), feeding \(chunk)-byte chunks gave \(split)")
    }

    for packet in whole.packets {
        let encoded: [UInt8]
        do {
            encoded = try MQTTEncoder.encode(packet)
        } catch {
            fatalError("decoder accepted \(packet) but the encoder refuses it: \(error)")
        }
        do {
            let again = try MQTTDecoder.decode(encoded, maximumPacketSize: maximum + 8)
            guard again == packet else { fatalError("round trip changed \(packet) into \(again)") }
        } catch {
            fatalError("re-encoded \(packet) as \(encoded) does not decode: \(error)")
        }
    }

    exerciseSession(with: bytes)
    return 0
}

private struct Outcome: CustomStringConvertible {
    var packets: [MQTTPacket] = []
    var error: MQTTDecodeError?
    var description: String { "\(packets.count) packets, error \(error.map(String.init(describing:)) ?? "none")" }
}

private func drain(feeding pieces: [ArraySlice<UInt8>], maximumPacketSize: Int) -> Outcome {
    var decoder = MQTTDecoder(maximumPacketSize: maximumPacketSize)
    var outcome = Outcome()
    for piece in pieces {
        decoder.append(piece)
        do {
            while let packet = try decoder.next() { outcome.packets.append(packet) }
        } catch {
            outcome.error = error
            return outcome
        }
    }
    return outcome
}

private func exerciseSession(with bytes: [UInt8]) {
    guard var session = try? MQTTClientSession(configuration: .init(clientID: "fuzz", keepAliveSeconds: 5,
                                                                    inFlightWindow: 2)) else {
        fatalError("the fuzz session configuration must be valid")
    }
    var actions = session.handle(.connectRequested, at: .zero)
    actions += session.handle(.bytesReceived([0x20, 0x02, 0x00, 0x00]), at: .zero)
    actions += session.handle(.publishRequested(.init(topic: "f/1", payload: [1])), at: .zero)
    actions += session.handle(.subscribeRequested([.init(filter: "f/#", qos: .atLeastOnce)]), at: .zero)
    actions += session.handle(.bytesReceived(bytes), at: .seconds(1))
    actions += session.handle(.tick, at: .seconds(7))
    actions += session.handle(.connectRequested, at: .seconds(8))
    actions += session.handle(.bytesReceived(bytes), at: .seconds(8))
    for case .send(let packet) in actions {
        do {
            _ = try MQTTEncoder.encode(packet)
        } catch {
            fatalError("the session asked to send \(packet), which does not encode: \(error)")
        }
    }
}

// libFuzzer harness for the predictor.v1 wire (length-prefixed JSON frames between the agent and
// the co-located predictor). Compiled with PredictorWire.swift, PredictorSample.swift and
// Sources/Common/JSON into one module by scripts/fuzz.sh. The input is a byte stream as a
// connection would deliver it.
//
// Properties checked (a violation traps, which libFuzzer reports as a crash):
// 1. Framing and decoding never crash, whatever the bytes; the reader never buffers a payload
//    longer than maxPayload.
// 2. Feeding the stream whole or in small chunks gives the same payloads and the same error.
// 3. Every message that decodes is encoded into one frame that decodes back to the same message.
// 4. `requestID(inPayload:)` never crashes and returns ids ≤ maxID.

@_cdecl("LLVMFuzzerTestOneInput")
public func predictorWireFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let whole = payloads(feeding: [bytes[...]])
    let chunk = 1 + Int(bytes.last ?? 0) % 13
    let split = payloads(feeding: stride(from: 0, to: bytes.count, by: chunk).map { bytes[$0..<min($0 + chunk, bytes.count)] })
    guard whole.payloads == split.payloads, whole.error == split.error else {
        fatalError("whole feed and \(chunk)-byte chunks disagree")
    }
    // The raw input as one payload too, so the JSON decoding is reached without a valid prefix.
    for payload in whole.payloads + [bytes] {
        if let id = PredictorWire.requestID(inPayload: payload), id > PredictorWire.maxID {
            fatalError("request id \(id) beyond maxID")
        }
        guard let message = try? PredictorWire.decode(payload: payload) else { continue }
        let frame = PredictorWire.encode(message)
        var reader = PredictorFrameReader()
        reader.append(frame)
        let again: PredictorMessage?
        do {
            guard let payload = try reader.nextPayload() else { fatalError("\(message) encoded as an incomplete frame") }
            again = try PredictorWire.decode(payload: payload)
        } catch {
            fatalError("\(message) encoded as a frame that does not decode: \(error)")
        }
        guard again == message else { fatalError("\(message) round-tripped as \(String(describing: again))") }
        guard reader.pendingByteCount == 0 else { fatalError("\(message) encoded with trailing bytes") }
    }
    return 0
}

private func payloads(feeding pieces: [ArraySlice<UInt8>]) -> (payloads: [[UInt8]], error: PredictorFrameError?) {
    var reader = PredictorFrameReader()
    var found: [[UInt8]] = []
    for piece in pieces {
        reader.append(piece)
        do {
            while let payload = try reader.nextPayload() {
                guard payload.count <= PredictorWire.maxPayload else { fatalError("payload of \(payload.count) bytes") }
                found.append(payload)
            }
        } catch {
            return (found, error)
        }
    }
    return (found, nil)
}

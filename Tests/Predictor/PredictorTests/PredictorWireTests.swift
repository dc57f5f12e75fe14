import TestSupport
import Foundation
import Testing
@testable import Predictor

/// predictor.v1 framing: exact bytes, round trips, and one test per malformed case.
struct PredictorWireTests {
    let sample = PredictorSample(device: "factory-line-01", channel: "temperature", captureTime: 1_234.5, value: 22.51)

    func payload(_ text: String) -> [UInt8] { Array(text.utf8) }

    func decodeError(_ text: String) -> PredictorFrameError? {
        do {
            _ = try PredictorWire.decode(payload: payload(text))
            return nil
        } catch {
            return error
        }
    }

    @Test func sampleFrameBytesAreExact() {
        let frame = PredictorWire.encode(.sample(id: 7, sample))
        let json = #"{"v":1,"type":"sample","id":7,"device":"factory-line-01","channel":"temperature","capture_time":1234.5,"value":22.51}"#
        #expect(Array(frame.prefix(4)) == [0, 0, 0, UInt8(json.utf8.count)])
        #expect(String(decoding: frame.dropFirst(4), as: UTF8.self) == json)
    }

    @Test func everyMessageRoundTrips() throws {
        let verdict = PredictorVerdict(device: "d\u{e9}vice \"1\"", channel: "humidity", captureTime: 0.1, spikeProbability: 0.8125,
                                       spikeDetected: true, modelID: "spike-forest.v1-abc", warmingUp: false,
                                       features: [NamedFeature("z_long", 7.25), NamedFeature("delta_z", -1e-7)])
        let messages: [PredictorMessage] = [
            .sample(id: 0, sample), .sample(id: PredictorWire.maxID, sample),
            .verdict(id: 3, verdict),
            .error(id: 9, code: "out_of_order", message: "line\nbreak"), .error(id: nil, code: "frame_too_long", message: ""),
        ]
        for message in messages {
            let frame = PredictorWire.encode(message)
            var reader = PredictorFrameReader()
            reader.append(frame)
            let payload = try #require(try reader.nextPayload())
            #expect(try PredictorWire.decode(payload: payload) == message)
            #expect(reader.pendingByteCount == 0)
        }
    }

    @Test func readerReassemblesSplitAndJoinedFrames() throws {
        let a = PredictorWire.encode(.sample(id: 1, sample)), b = PredictorWire.encode(.sample(id: 2, sample))
        var reader = PredictorFrameReader()
        let stream = a + b
        var got: [PredictorMessage] = []
        for byte in stream {  // one byte at a time
            reader.append([byte])
            while let p = try reader.nextPayload() { got.append(try PredictorWire.decode(payload: p)) }
        }
        #expect(got == [.sample(id: 1, sample), .sample(id: 2, sample)])
        reader.append(stream)  // both at once
        #expect(try reader.nextPayload() != nil)
        #expect(try reader.nextPayload() != nil)
        #expect(try reader.nextPayload() == nil)
    }

    @Test func brokenLengthPrefixesCloseTheConnection() {
        #expect(throws: PredictorFrameError.emptyFrame) { try PredictorWire.payloadLength(0, 0, 0, 0) }
        #expect(throws: PredictorFrameError.frameTooLong(length: 16_385, limit: 16_384)) {
            try PredictorWire.payloadLength(0, 0, 0x40, 0x01)
        }
        #expect(throws: PredictorFrameError.frameTooLong(length: 0x4745_5420, limit: 16_384)) {
            try PredictorWire.payloadLength(0x47, 0x45, 0x54, 0x20)  // "GET " — an HTTP client on the socket
        }
        #expect(PredictorFrameError.emptyFrame.closesConnection)
        #expect(!PredictorFrameError.missingField("v").closesConnection)
        var reader = PredictorFrameReader()
        reader.append([0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: PredictorFrameError.self) { try reader.nextPayload() }
    }

    @Test(arguments: [
        ("not JSON", "hello", "malformed_json"),
        ("truncated", #"{"v":1,"type":"sample""#, "malformed_json"),
        ("trailing data", #"{"v":1} x"#, "malformed_json"),
        ("NaN", #"{"v":1,"type":"sample","id":1,"device":"d","channel":"c","capture_time":1,"value":NaN}"#, "malformed_json"),
        ("duplicate key", #"{"v":1,"v":1}"#, "malformed_json"),
        ("array", "[1]", "not_an_object"),
        ("no version", #"{"type":"sample"}"#, "missing_field"),
        ("version 2", #"{"v":2,"type":"sample"}"#, "unsupported_version"),
        ("version as text", #"{"v":"1","type":"sample"}"#, "unsupported_version"),
        ("unknown type", #"{"v":1,"type":"ping"}"#, "unknown_type"),
        ("missing value", #"{"v":1,"type":"sample","id":1,"device":"d","channel":"c","capture_time":1}"#, "missing_field"),
        ("value as text", #"{"v":1,"type":"sample","id":1,"device":"d","channel":"c","capture_time":1,"value":"3"}"#, "wrong_type"),
        ("empty device", #"{"v":1,"type":"sample","id":1,"device":"","channel":"c","capture_time":1,"value":3}"#, "invalid_value"),
        ("negative id", #"{"v":1,"type":"sample","id":-1,"device":"d","channel":"c","capture_time":1,"value":3}"#, "invalid_value"),
        ("fractional id", #"{"v":1,"type":"sample","id":1.5,"device":"d","channel":"c","capture_time":1,"value":3}"#, "invalid_value"),
        ("huge id", #"{"v":1,"type":"sample","id":1e300,"device":"d","channel":"c","capture_time":1,"value":3}"#, "invalid_value"),
        ("extra member", #"{"v":1,"type":"sample","id":1,"device":"d","channel":"c","capture_time":1,"value":3,"unit":"C"}"#, "unexpected_field"),
        ("probability 2", #"{"v":1,"type":"verdict","id":1,"device":"d","channel":"c","capture_time":1,"spike_probability":2,"spike_detected":true,"model_id":"m","warming_up":false,"features":{}}"#, "invalid_value"),
        ("feature as text", #"{"v":1,"type":"verdict","id":1,"device":"d","channel":"c","capture_time":1,"spike_probability":1,"spike_detected":true,"model_id":"m","warming_up":false,"features":{"a":"b"}}"#, "wrong_type"),
        ("deep nesting", #"{"v":1,"type":"sample","x":[[[[[1]]]]]}"#, "malformed_json"),
    ])
    func refusesMalformedPayloads(_ name: String, _ text: String, _ code: String) {
        let error = decodeError(text)
        #expect(error?.code == code, "\(name): got \(String(describing: error))")
    }

    @Test func deviceAndChannelLengthsAreBounded() {
        let long = String(repeating: "x", count: 129)
        let text = #"{"v":1,"type":"sample","id":1,"device":"\#(long)","channel":"c","capture_time":1,"value":3}"#
        #expect(decodeError(text) == .invalidValue(field: "device", reason: "at most 128 bytes, found 129"))
        #expect(PredictorWire.requestID(inPayload: payload(text)) == 1, "the error frame can still echo the id")
        #expect(PredictorWire.requestID(inPayload: payload("garbage")) == nil)
    }

    @Test func errorMessagesSayWhatWasExpected() {
        let error = decodeError(#"{"v":1,"type":"sample","id":1,"device":"d","channel":"c","capture_time":1,"value":"3"}"#)
        #expect(error?.description == #""value" must be a number, found a string"#)
    }
}

/// The examples in firmware-interface/ decode, and re-encode to the same bytes.
struct PredictorExamplesTests {
    @Test(arguments: ["predictor-sample.json", "predictor-verdict.json", "predictor-error.json",
                      "predictor-load-model.json", "predictor-model-loaded.json", "predictor-model-refused.json"])
    func examplesDecodeAndReencodeExactly(_ name: String) throws {
        let url = URL(fileURLWithPath: repositoryPath("firmware-interface/examples/\(name)"))
        var text = try String(contentsOf: url, encoding: .utf8)
        while text.hasSuffix("\n") { text.removeLast() }
        let message = try PredictorWire.decode(payload: Array(text.utf8))
        #expect(String(decoding: PredictorWire.encode(message).dropFirst(4), as: UTF8.self) == text)
    }
}

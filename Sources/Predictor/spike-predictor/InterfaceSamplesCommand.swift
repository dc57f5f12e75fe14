import ArgumentParser
import Foundation
import JSON
import Predictor
import PredictorServer

/// Prints predictor.v1 frames exactly as the agent's side encodes requests and the server answers
/// them (``PredictorEngine/answer(payload:)`` and ``PredictorWire/encode(_:)``, the serving path),
/// including a hot swap of the `--model` file (`load_model`, `model_loaded`, `model_refused`),
/// one JSON line per frame: `{"name", "length" (the 4-byte prefix), "payload" (the payload text)}`.
/// scripts/check-firmware-interface.py validates each payload against
/// firmware-interface/predictor.v1.schema.json and checks the prefix.
struct InterfaceSamples: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interface-samples",
        abstract: "Print predictor.v1 frames (for the firmware-interface golden check).",
        shouldDisplay: false)

    @Option(name: .long, help: "The model (models/spike-gbt.v3.json, or any model file: our JSON or ONNX). Without it the fallback detector answers.")
    var model: String?

    func run() throws {
        let detector: SpikePredictor.Detector = if let model { .forest(try loadModel(model)) } else { .robust(.standard) }
        let engine = PredictorEngine(SpikePredictor(detector: detector, maxStreams: 2), models: modelFiles)

        // A temperature stream with a little noise and a 3 °C spike at sample 50: warming-up
        // verdicts, quiet ones and a detected spike.
        for i in 0..<60 {
            let value = 22.5 + 0.05 * sin(Double(i) * 1.7) + (i == 50 || i == 51 ? 3 : 0)
            let sample = PredictorSample(device: "factory-line-01", channel: "temperature", captureTime: 1000 + 2 * Double(i), value: value)
            let request = PredictorWire.encode(.sample(id: UInt64(i), sample))
            emit("sample \(i)", request)
            emit("verdict \(i)", PredictorWire.encode(engine.answer(payload: Array(request.dropFirst(4)))))
        }

        // Every refusal the server answers on an open connection …
        let refused: [(String, String)] = [
            ("malformed_json", #"{"v":1,"type":"sample","id":1,"#),
            ("not_an_object", "[1,2]"),
            ("unsupported_version", #"{"v":2,"type":"sample","id":1}"#),
            ("unknown_type", #"{"v":1,"type":"guess","id":1}"#),
            ("unexpected_message", #"{"v":1,"type":"error","id":1,"code":"x","message":"y"}"#),
            ("missing_field", #"{"v":1,"type":"sample","id":2,"device":"d","channel":"c","capture_time":1}"#),
            ("wrong_type", #"{"v":1,"type":"sample","id":3,"device":"d","channel":"c","capture_time":1,"value":"hot"}"#),
            ("invalid_value", #"{"v":1,"type":"sample","id":4,"device":"","channel":"c","capture_time":1,"value":1}"#),
            ("unexpected_field", #"{"v":1,"type":"sample","id":5,"device":"d","channel":"c","capture_time":1,"value":1,"unit":"C"}"#),
            ("out_of_order", #"{"v":1,"type":"sample","id":6,"device":"factory-line-01","channel":"temperature","capture_time":1000,"value":1}"#),
            ("second stream", #"{"v":1,"type":"sample","id":7,"device":"factory-line-01","channel":"humidity","capture_time":1,"value":45}"#),
            ("too_many_streams", #"{"v":1,"type":"sample","id":8,"device":"factory-line-01","channel":"pressure","capture_time":1,"value":101325}"#),
        ]
        for (name, payload) in refused {
            emit("answer to \(name)", PredictorWire.encode(engine.answer(payload: Array(payload.utf8))))
        }
        // Hot swap: the model file delivered again with its SHA-256 (swapped, the same model), then
        // with a hash it does not have (refused).
        if let model, let bytes = FileManager.default.contents(atPath: model) {
            let right = SHA256.hex([UInt8](bytes)), wrong = String(repeating: "0", count: 64)
            for (id, hash) in [(UInt64(100), right), (101, wrong)] {
                let request = PredictorWire.encode(.loadModel(id: id, path: model, sha256: hash))
                emit("load_model \(hash == right ? "pinned" : "wrongly pinned")", request)
                emit("answer to load_model \(hash == right ? "pinned" : "wrongly pinned")",
                     PredictorWire.encode(engine.answer(payload: Array(request.dropFirst(4)))))
            }
        }
        // … and the framing errors it sends before closing one.
        for (name, prefix) in [("empty_frame", [UInt8](repeating: 0, count: 4)), ("frame_too_long", [0, 0, 0x40, 0x01])] {
            let read = Result { () throws(PredictorFrameError) in try PredictorWire.payloadLength(prefix[0], prefix[1], prefix[2], prefix[3]) }
            guard case .failure(let error) = read else { throw ValidationError("the prefix for \(name) was accepted") }
            emit("answer to \(name)", PredictorWire.encode(.error(id: nil, code: error.code, message: error.description)))
        }
    }

    func emit(_ name: String, _ frame: [UInt8]) {
        let length = frame.prefix(4).reduce(0) { $0 << 8 | Int($1) }
        let line: JSONObject = ["name": .string(name), "length": .integer(Int64(length)),
                                "payload": .string(String(decoding: frame.dropFirst(4), as: UTF8.self))]
        print(String(decoding: JSONValue.object(line).encoded(sortingKeys: false), as: UTF8.self))
    }
}

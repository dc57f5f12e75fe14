import CLISupport
import ArgumentParser
import Foundation
import Logging
import Predictor
import PredictorONNX
import PredictorServer

@main
struct SpikePredictorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spike-predictor",
        abstract: "The edge spike predictor: predictor.v1 on a Unix socket, its training data, evaluation and benchmark.",
        discussion: "Exit codes: 0 success, 1 failure, 64 usage error. docs/predictor.md has the details.",
        version: "0.1.0",
        subcommands: [Serve.self, Export.self, Evaluate.self, Bench.self, InterfaceSamples.self])
}

/// Named exit codes (docs/predictor.md, "Exit codes").
enum Exit {
    static let failed = ExitCode(1)
    static let usage = ExitCode(64)
}



/// Reads and validates a model file, printing what is wrong and exiting 64 when it is unusable.
func loadModel(_ path: String) throws -> SpikeForest {
    guard let data = FileManager.default.contents(atPath: path) else {
        printError("cannot read the model \(path); pass --model with the path of a model file (models/)")
        throw Exit.usage
    }
    switch parseModel([UInt8](data)) {
    case .success(let model): return model
    case .failure(let refusal):
        printError("\(path): \(refusal)")
        throw Exit.usage
    }
}

/// Our JSON format or ONNX-ML: an ONNX file is a protobuf message, ours JSON text starting with "{".
@Sendable func parseModel(_ bytes: [UInt8]) -> Result<SpikeForest, ModelFormatError> {
    do throws(ModelFormatError) {
        if bytes.first(where: { ![9, 10, 13, 32].contains($0) }) != UInt8(ascii: "{") {
            return .success(try ONNXTreeEnsemble.load(bytes))
        }
        return .success(try SpikeForest(json: bytes))
    } catch {
        return .failure(error)
    }
}

/// Delivered model files (hot swap), read whole (at most ONNXTreeEnsemble.maxBytes) and parsed as above.
let modelFiles = PredictorEngine.ModelSource(
    read: { path in
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let size = attributes[.size] as? NSNumber else {
            return .failure(PredictorEngine.ModelRefusal("cannot read \(path)"))
        }
        guard size.intValue <= ONNXTreeEnsemble.maxBytes else {
            return .failure(PredictorEngine.ModelRefusal("\(path) has \(size) bytes, more than \(ONNXTreeEnsemble.maxBytes)"))
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(PredictorEngine.ModelRefusal("cannot read \(path)"))
        }
        return .success([UInt8](data))
    },
    parse: { bytes in parseModel(bytes).mapError { PredictorEngine.ModelRefusal("\($0)") } })

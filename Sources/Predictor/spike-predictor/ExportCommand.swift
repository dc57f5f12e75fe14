import CLISupport
import ArgumentParser
import Foundation
import Predictor
import TrainingData

/// `spike-predictor export`: the predictor's training and evaluation data, from the simulator.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write labelled readings from simulated scenarios as CSV (docs/predictor.md).",
        discussion: """
            One simulated device per seed (sim-<seed>) with temperature, humidity and \
            pressure channels. Label 1 while a spike or dip is active. Kinds: spike, dip, \
            drift, step, noise-burst.
            """)

    @Option(name: .long, help: "The CSV file to write.")
    var out: String

    @Option(name: .long, help: "Seeds, one (7) or a range (1-24).")
    var seeds: String = "1-8"

    @Option(name: .long, help: "Comma-separated kinds of events: spike,dip,drift,step,noise-burst.")
    var kinds: String = TrainingKind.allCases.map(\.rawValue).joined(separator: ",")

    @Option(name: .long, help: "Simulated hours per series.")
    var hours: Double = 4

    @Option(name: .long, help: "Seconds between samples; a comma-separated list gives seed s the (s mod count)-th.")
    var interval: String = "5"

    @Option(name: .long, help: "Comma-separated field effects (none labelled a spike): \(FieldEffect.allCases.map(\.rawValue).joined(separator: ",")).")
    var effects: String = ""

    private var intervals: [Double]? {
        let parts = interval.split(separator: ",").map { Double($0) }
        guard !parts.isEmpty, parts.allSatisfy({ $0.map { $0 >= 0.1 && $0 <= 3600 } ?? false }) else { return nil }
        return parts.compactMap { $0 }
    }

    private var effectSet: Set<FieldEffect>? {
        var out = Set<FieldEffect>()
        for name in effects.split(separator: ",") {
            guard let e = FieldEffect(rawValue: String(name)) else { return nil }
            out.insert(e)
        }
        return out
    }

    @Flag(name: .long, help: "Add the warming_up flag and the rolling feature columns (feature set v1).")
    var features = false

    func validate() throws {
        if TrainingArguments.seeds(seeds) == nil { throw ValidationError("--seeds must be N or A-B with A <= B, not \(seeds)") }
        if TrainingArguments.kinds(kinds) == nil {
            let known = TrainingKind.allCases.map(\.rawValue).joined(separator: ",")
            throw ValidationError("--kinds must be a comma-separated list of \(known), not \(kinds)")
        }
        if !(hours > 0 && hours <= 24 * 31) { throw ValidationError("--hours must be more than 0 and at most 744, not \(hours)") }
        if intervals == nil { throw ValidationError("--interval must be 0.1…3600 seconds (or a comma-separated list), not \(interval)") }
        if effectSet == nil {
            throw ValidationError("--effects must be a comma-separated list of \(FieldEffect.allCases.map(\.rawValue).joined(separator: ",")), not \(effects)")
        }
    }

    func run() async throws {
        guard let range = TrainingArguments.seeds(seeds), let kindSet = TrainingArguments.kinds(kinds),
              let intervals, let effectSet else { throw Exit.usage }
        let generator = TrainingGenerator(kinds: kindSet, hours: hours, intervals: intervals, effects: effectSet)
        guard FileManager.default.createFile(atPath: out, contents: nil),
              let handle = FileHandle(forWritingAtPath: out) else {
            printError("cannot create \(out); check that its folder exists and is writable")
            throw Exit.failed
        }
        defer { try? handle.close() }
        var rows = 0, positives = 0
        do {
            try handle.write(contentsOf: Data((TrainingCSV.header(features: features) + "\n").utf8))
            for seed in range {
                for series in generator.series(seed: seed) {
                    let lines = TrainingCSV.lines(series, features: features ? FeatureWindows.v1 : nil)
                    try handle.write(contentsOf: Data((lines.joined(separator: "\n") + "\n").utf8))
                    rows += series.count
                    positives += series.reduce(0) { $0 + $1.label }
                }
            }
        } catch {
            printError("writing \(out) failed: \(error)")
            throw Exit.failed
        }
        print("wrote \(rows) readings (\(positives) labelled spike) from seeds \(seeds) to \(out)")
    }
}

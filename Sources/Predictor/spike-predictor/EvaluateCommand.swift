import CLISupport
import ArgumentParser
import Foundation
import Predictor
import TrainingData

struct Evaluate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score the model and the fallback detector side by side on labelled readings.",
        discussion: """
            Event-level scores (docs/predictor.md, "Evaluation"): an event is a run of labelled \
            samples, an alarm a run of flagged ones; an alarm is true when it overlaps an event \
            or its --grace samples after; delay counts samples from the event's start to its \
            first flag. Write the data with `spike-predictor export`.
            """)

    @Option(name: .long, help: "Labelled readings (CSV from `spike-predictor export`).")
    var data: String

    @Option(name: .long, help: "The model.")
    var model: String = "models/spike-forest.v1.json"

    @Option(name: .long, help: "Samples after an event's end in which an alarm still counts as true.")
    var grace: Int = 12

    func validate() throws {
        if grace < 0 || grace > 10_000 { throw ValidationError("--grace must be 0…10000 samples, not \(grace)") }
    }

    func run() async throws {
        let forest = try loadModel(model)
        guard let bytes = FileManager.default.contents(atPath: data) else {
            printError("cannot read \(data); write it with `spike-predictor export --out \(data)`")
            throw Exit.usage
        }
        let series: [[LabeledReading]]
        do {
            series = try TrainingCSV.parse(String(decoding: bytes, as: UTF8.self))
        } catch {
            printError("\(data): \(error)")
            throw Exit.usage
        }
        let evaluation = DetectorComparison.run(series: series, forest: forest, fallback: .standard, grace: grace)
        for line in evaluation.table(title: URL(fileURLWithPath: data).lastPathComponent) { print(line) }
    }
}

extension DetectorComparison {
    func table(title: String) -> [String] {
        func f(_ x: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", x) }
        let days = model.simulatedSeconds / 86_400
        var lines = [
            "\(title): \(series) series, \(model.samples) samples every \(f(interval, 1)) s (\(f(days, 2)) simulated days), \(model.events) spike events",
            "",
            "| detector | precision | recall | F1 | delay mean (samples) | delay p50 | false alarms/day | alarms |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for (name, r) in [("model " + modelID, model), ("fallback " + fallbackID, fallback)] {
            lines.append("| \(name) | \(f(r.precision)) | \(f(r.recall)) | \(f(r.f1)) | \(r.meanDelay.map { f($0, 2) } ?? "-") | "
                         + "\(r.medianDelay.map(String.init) ?? "-") | \(f(r.falseAlarmsPerDay, 1)) | \(r.alarms) |")
        }
        return lines
    }
}

import Predictor

/// The model and the fallback detector over the same labelled series, scored event by event
/// (``DetectionReport``): what `spike-predictor evaluate` prints and the held-out test asserts.
public struct DetectorComparison: Sendable {
    public var model: DetectionReport
    public var fallback: DetectionReport
    public var modelID: String
    public var fallbackID: String
    public var series: Int
    /// Seconds between samples (the largest mean step of any series).
    public var interval: Double

    /// Runs both detectors over every series (in capture order, one stream per series); a
    /// refused sample counts as "not flagged".
    public static func run(series: [[LabeledReading]], forest: SpikeForest, fallback: RobustSpikeDetector.Parameters,
                           grace: Int) -> DetectorComparison {
        var modelPredictor = SpikePredictor(detector: .forest(forest), maxStreams: max(series.count, 1))
        var fallbackPredictor = SpikePredictor(detector: .robust(fallback), maxStreams: max(series.count, 1))
        var modelReport = DetectionReport(), fallbackReport = DetectionReport()
        var interval = 0.0
        for readings in series {
            let step = readings.count > 1 ? (readings[readings.count - 1].time - readings[0].time) / Double(readings.count - 1) : 0
            interval = max(interval, step)
            var modelFlags: [Bool] = [], fallbackFlags: [Bool] = []
            modelFlags.reserveCapacity(readings.count)
            fallbackFlags.reserveCapacity(readings.count)
            for r in readings {
                let sample = PredictorSample(device: r.device, channel: r.channel, captureTime: r.time, value: r.value)
                modelFlags.append((try? modelPredictor.classify(sample))?.spikeDetected ?? false)
                fallbackFlags.append((try? fallbackPredictor.classify(sample))?.spikeDetected ?? false)
            }
            let labels = readings.map { $0.label == 1 }
            modelReport.add(labels: labels, flags: modelFlags, sampleInterval: step, grace: grace)
            fallbackReport.add(labels: labels, flags: fallbackFlags, sampleInterval: step, grace: grace)
        }
        return DetectorComparison(model: modelReport, fallback: fallbackReport, modelID: modelPredictor.modelID,
                                  fallbackID: fallbackPredictor.modelID, series: series.count, interval: interval)
    }
}

/// How much to trust a reading.
public enum ReadingQuality: String, Sendable, Codable {
    case good
    /// The sensor answered but a retry was needed or a check (range, stuck) failed.
    case suspect
    /// No value: the sensor failed. The reading carries no number rather than a made-up one.
    case unavailable
}

/// A reading as the sampler hands it on: a channel of a named sensor at a time, with a quality
/// flag. `value` is nil exactly when `quality == .unavailable`.
public struct Reading: Equatable, Sendable {
    public var sensor: String
    public var channel: Channel
    public var value: Quantity?
    public var quality: ReadingQuality
    /// Monotonic capture time on the sampler's clock.
    public var time: Duration
    /// The ``Calibration/label(digits:)`` of the correction applied to `value` (nil: none).
    public var calibration: String?

    public init(sensor: String, channel: Channel, value: Quantity?, quality: ReadingQuality, time: Duration,
                calibration: String? = nil) {
        self.calibration = calibration
        self.sensor = sensor
        self.channel = channel
        self.value = value
        self.quality = quality
        self.time = time
    }

    /// This reading corrected by `calibration` (an unavailable reading stays as it is).
    public func calibrated(by calibration: Calibration) -> Reading {
        guard let value else { return self }
        var corrected = self
        corrected.value = Quantity(calibration.apply(value.value), value.unit)
        corrected.calibration = calibration.label(digits: channel.facts.digits)
        return corrected
    }
}

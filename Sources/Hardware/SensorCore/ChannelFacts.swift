/// What FieldAgent knows about a kind of measurement, whichever chip makes it. Every part of the
/// agent that treats channels differently (printing, telemetry rounding, the in-agent spike
/// detector, the doctor's stuck and noise checks) reads it here, so a new channel is one row in
/// ``Channel/facts``, and the compiler points at that row (the `switch` has no `default:`).
public struct ChannelFacts: Sendable, Equatable {
    /// The one unit the channel is reported in.
    public var unit: PhysicalUnit
    /// Decimals shown to people (`read`, `doctor`) and kept in telemetry: what the supported
    /// chips resolve, so messages stay short.
    public var digits: Int
    /// Whether the in-agent spike detector and the predictor watch this channel.
    public var watchedForSpikes: Bool
    /// The smallest spread the in-agent detector assumes (its MAD floor): about twice the finest
    /// resolution of the chips that report the channel, so a one-LSB step on a quiet channel is
    /// not read as a many-sigma spike.
    public var detectorNoiseFloor: Double
    /// A healthy sensor's readings of this channel always move a little, so identical reads over a
    /// few samples mean a stuck converter (the doctor warns).
    public var alwaysNoisy: Bool
    /// A standard deviation over a few seconds that no healthy sensor in still air shows (the
    /// doctor warns above it); nil where no such limit holds.
    public var doctorNoiseLimit: Double?

    public init(unit: PhysicalUnit, digits: Int, watchedForSpikes: Bool, detectorNoiseFloor: Double,
                alwaysNoisy: Bool, doctorNoiseLimit: Double?) {
        self.unit = unit
        self.digits = digits
        self.watchedForSpikes = watchedForSpikes
        self.detectorNoiseFloor = detectorNoiseFloor
        self.alwaysNoisy = alwaysNoisy
        self.doctorNoiseLimit = doctorNoiseLimit
    }
}

extension Channel {
    /// The channel table. Resolutions behind the figures: BME280 0.01 °C, 1/1024 %RH and about
    /// 1.3 Pa of pressure noise; SHT3x 0.01 °C and 0.01 %RH; ADXL345 3.9 mg per LSB; SCD4x 1 ppm.
    public var facts: ChannelFacts {
        switch self {
        case .temperature:
            ChannelFacts(unit: .degreeCelsius, digits: 2, watchedForSpikes: true, detectorNoiseFloor: 0.02,
                         alwaysNoisy: true, doctorNoiseLimit: 0.5)
        case .humidity:
            ChannelFacts(unit: .percentRelativeHumidity, digits: 2, watchedForSpikes: true, detectorNoiseFloor: 0.05,
                         alwaysNoisy: true, doctorNoiseLimit: 3)
        case .pressure:
            ChannelFacts(unit: .pascal, digits: 1, watchedForSpikes: true, detectorNoiseFloor: 2,
                         alwaysNoisy: true, doctorNoiseLimit: 50)
        case .accelerationX, .accelerationY, .accelerationZ:
            // The raw axes move in whole LSBs around gravity: watching them would flag noise.
            ChannelFacts(unit: .standardGravity, digits: 4, watchedForSpikes: false, detectorNoiseFloor: 0.004,
                         alwaysNoisy: true, doctorNoiseLimit: nil)
        case .vibrationRMS:
            ChannelFacts(unit: .standardGravity, digits: 4, watchedForSpikes: true, detectorNoiseFloor: 0.004,
                         alwaysNoisy: false, doctorNoiseLimit: nil)
        case .vibrationPeak:
            // The per-window peak is left to the RMS: it jumps by whole LSBs from window to window.
            ChannelFacts(unit: .standardGravity, digits: 4, watchedForSpikes: false, detectorNoiseFloor: 0.004,
                         alwaysNoisy: false, doctorNoiseLimit: nil)
        case .co2:
            // SCD4x: 1 ppm output steps, repeatability ±10 ppm, a new value every 5 s (so a few
            // quick reads can repeat one value: not a stuck converter).
            ChannelFacts(unit: .partsPerMillion, digits: 0, watchedForSpikes: true, detectorNoiseFloor: 10,
                         alwaysNoisy: false, doctorNoiseLimit: nil)
        }
    }

    public var unit: PhysicalUnit { facts.unit }

    /// `value` with the channel's digits and unit, as people see it (`21.37 °C`, `101325.0 Pa`).
    public func format(_ value: Double) -> String {
        formatFixed(value, digits: facts.digits) + " " + unit.rawValue
    }

    /// `value` kept to the channel's digits, as telemetry carries it.
    public func rounded(_ value: Double) -> Double {
        var scale = 1.0
        for _ in 0..<facts.digits { scale *= 10 }
        return (value * scale).rounded() / scale
    }
}

/// `value` with `digits` decimals, without Foundation's locale-dependent formatting.
public func formatFixed(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale)
    let fraction = Int(scaled - Double(whole) * scale)
    var text = "\(whole)"
    if digits > 0 {
        let f = String(fraction)
        text += "." + String(repeating: "0", count: digits - f.count) + f
    }
    return (value < 0 && scaled != 0 ? "-" : "") + text
}

extension BME280 {
    /// Oversampling setting of one measurement (`osrs_t`, `osrs_p`, `osrs_h`; §5.4.3, §5.4.5, Tables 20, 23, 24).
    ///
    /// Higher oversampling lowers noise and raises the resolution of temperature and pressure
    /// (16 + (code − 1) bits with the IIR filter off, §3.4.2–§3.4.3) at the cost of a longer conversion.
    public enum Oversampling: UInt8, Sendable, CaseIterable, CustomStringConvertible {
        /// Measurement skipped: the chip leaves the marker 0x80000 (0x8000 for humidity) in the data registers.
        case skipped = 0b000
        case x1 = 0b001
        case x2 = 0b010
        case x4 = 0b011
        case x8 = 0b100
        case x16 = 0b101

        /// The oversampling factor (0 when skipped), as used in the measurement-time formula.
        public var factor: Int {
            switch self {
            case .skipped: 0
            case .x1: 1
            case .x2: 2
            case .x4: 4
            case .x8: 8
            case .x16: 16
            }
        }

        public var description: String { self == .skipped ? "skipped" : "×\(factor)" }
    }

    /// IIR filter coefficient for temperature and pressure (`filter[4:2]` of `config`, §3.4.4, Table 28).
    public enum Filter: UInt8, Sendable, CaseIterable, CustomStringConvertible {
        case off = 0b000
        case coefficient2 = 0b001
        case coefficient4 = 0b010
        case coefficient8 = 0b011
        case coefficient16 = 0b100

        public var coefficient: Int {
            switch self {
            case .off: 1
            case .coefficient2: 2
            case .coefficient4: 4
            case .coefficient8: 8
            case .coefficient16: 16
            }
        }

        public var description: String { self == .off ? "off" : "\(coefficient)" }
    }
}

/// How a BME280 measures: oversampling per quantity and the IIR filter (typed, not register bits).
///
/// The defaults are the datasheet's "weather monitoring" style minimum: ×1 / ×1 / ×1, filter off,
/// which takes at most 9.3 ms per forced measurement.
///
/// Temperature must not be skipped: pressure and humidity compensation both need `t_fine`
/// from the temperature measurement (§4.2.3). `start()` rejects such options with
/// ``BME280Error/invalidConfiguration(_:)``. A skipped pressure or humidity simply drops that channel.
public struct BME280Options: Sendable, Equatable {
    public var temperatureOversampling: BME280.Oversampling
    public var pressureOversampling: BME280.Oversampling
    /// Ignored on variants without a humidity sensor (BMP280).
    public var humidityOversampling: BME280.Oversampling
    public var filter: BME280.Filter

    public init(temperatureOversampling: BME280.Oversampling = .x1,
                pressureOversampling: BME280.Oversampling = .x1,
                humidityOversampling: BME280.Oversampling = .x1,
                filter: BME280.Filter = .off) {
        self.temperatureOversampling = temperatureOversampling
        self.pressureOversampling = pressureOversampling
        self.humidityOversampling = humidityOversampling
        self.filter = filter
    }
}

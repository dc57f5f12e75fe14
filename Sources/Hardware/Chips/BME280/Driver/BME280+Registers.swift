import HAL

// Register map of the Bosch BME280 (and its pressure-only sibling BMP280), named as in the
// datasheet BST-BME280-DS002 §5.3 "Memory map" (Table 18) and §5.4 "Register description".
// Tests and the simulation model transcribe these values independently.

extension BME280 {
    /// Register addresses (§5.3, Table 18).
    public enum Register {
        /// `calib00`…`calib25`: dig_T1…dig_P9 and dig_H1, 0x88…0xA1 (§4.2.2, Table 16).
        public static let calib00: UInt8 = 0x88
        /// `id`: chip identification, 0x60 on a BME280 (§5.4.1).
        public static let id: UInt8 = 0xD0
        /// `reset`: writing ``Command/softReset`` runs the power-on-reset procedure (§5.4.2).
        public static let reset: UInt8 = 0xE0
        /// `calib26`…: dig_H2…dig_H6, 0xE1…0xE7 (§4.2.2, Table 16).
        public static let calib26: UInt8 = 0xE1
        /// `ctrl_hum`: `osrs_h[2:0]`; takes effect only after a write to `ctrl_meas` (§5.4.3).
        public static let ctrlHum: UInt8 = 0xF2
        /// `status`: `measuring[3]`, `im_update[0]` (§5.4.4).
        public static let status: UInt8 = 0xF3
        /// `ctrl_meas`: `osrs_t[7:5]`, `osrs_p[4:2]`, `mode[1:0]` (§5.4.5).
        public static let ctrlMeas: UInt8 = 0xF4
        /// `config`: `t_sb[7:5]`, `filter[4:2]`, `spi3w_en[0]`; writes in normal mode may be ignored (§5.4.6).
        public static let config: UInt8 = 0xF5
        /// `press_msb`: first of the data registers 0xF7…0xFE (§5.4.7–§5.4.9), read in one burst (§4).
        public static let pressMSB: UInt8 = 0xF7
    }

    /// Values written to command registers.
    public enum Command {
        /// Written to `reset` (0xE0): "If the value 0xB6 is written to the register, the device is reset
        /// using the complete power-on-reset procedure" (§5.4.2).
        public static let softReset: UInt8 = 0xB6
    }

    /// Lengths of the burst reads (§4.2.2 Table 16, §5.4.7–§5.4.9).
    public enum Length {
        /// 0x88…0xA1: dig_T1…dig_P9, a reserved byte, dig_H1.
        public static let calibTemperaturePressure = 26
        /// 0xE1…0xE7: dig_H2…dig_H6.
        public static let calibHumidity = 7
        /// 0xF7…0xFC: pressure and temperature ADC values.
        public static let dataTemperaturePressure = 6
        /// 0xF7…0xFE: pressure, temperature and humidity ADC values.
        public static let dataAll = 8
    }

    /// The `status` register (0xF3, §5.4.4).
    public struct Status: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        /// `im_update[0]`: NVM data are being copied to the image registers (after reset or power-on).
        public static let imUpdate = Status(rawValue: 1 << 0)
        /// `measuring[3]`: a conversion is running; cleared when results are in the data registers.
        public static let measuring = Status(rawValue: 1 << 3)
    }

    /// `mode[1:0]` of `ctrl_meas` (§5.4.5, Table 25).
    public enum Mode: UInt8, Sendable {
        case sleep = 0b00
        /// 0b01 and 0b10 both mean forced mode.
        case forced = 0b01
        case normal = 0b11
    }

    /// Encodes `ctrl_meas` (§5.4.5): `osrs_t[7:5] | osrs_p[4:2] | mode[1:0]`.
    static func ctrlMeas(temperature: Oversampling, pressure: Oversampling, mode: Mode) -> UInt8 {
        temperature.rawValue << 5 | pressure.rawValue << 2 | mode.rawValue
    }

    /// Encodes `ctrl_hum` (§5.4.3): `osrs_h[2:0]`.
    static func ctrlHum(humidity: Oversampling) -> UInt8 {
        humidity.rawValue
    }

    /// Encodes `config` (§5.4.6): `filter[4:2]`; `t_sb` (normal mode only) and `spi3w_en` stay 0.
    static func config(filter: Filter) -> UInt8 {
        filter.rawValue << 2
    }
}

// Register map of the ADXL345, transcribed from the Analog Devices data sheet (Rev. E),
// "Register Map" table and the "Register Definitions" section; cross-checked against ADI no-OS
// `drivers/accel/adxl345/adxl345.h` and the fact sheet §G.3. Names follow the data sheet.

extension ADXL345 {
    /// Register addresses (data sheet "Register Map"). Multi-byte reads auto-increment.
    public enum Register {
        /// DEVID, read-only, always 0xE5 (data sheet "Register 0x00—DEVID").
        public static let devID: UInt8 = 0x00
        /// OFSX/OFSY/OFSZ: signed offset trims, 15.6 mg/LSB ("Register 0x1E, 0x1F, 0x20").
        public static let ofsX: UInt8 = 0x1E
        public static let ofsY: UInt8 = 0x1F
        public static let ofsZ: UInt8 = 0x20
        /// BW_RATE: LOW_POWER and the rate code ("Register 0x2C—BW_RATE"). Reset value 0x0A (100 Hz).
        public static let bwRate: UInt8 = 0x2C
        /// POWER_CTL ("Register 0x2D—POWER_CTL"). Reset value 0x00: standby.
        public static let powerCtl: UInt8 = 0x2D
        /// INT_ENABLE ("Register 0x2E—INT_ENABLE").
        public static let intEnable: UInt8 = 0x2E
        /// INT_MAP ("Register 0x2F—INT_MAP").
        public static let intMap: UInt8 = 0x2F
        /// INT_SOURCE, read-only ("Register 0x30—INT_SOURCE").
        public static let intSource: UInt8 = 0x30
        /// DATA_FORMAT: SELF_TEST, FULL_RES, JUSTIFY, range ("Register 0x31—DATA_FORMAT").
        public static let dataFormat: UInt8 = 0x31
        /// DATAX0…DATAZ1: little-endian two's-complement per axis ("Register 0x32 to Register 0x37").
        /// Read all six in one burst; with the FIFO enabled each such burst pops one entry.
        public static let dataX0: UInt8 = 0x32
        public static let dataX1: UInt8 = 0x33
        public static let dataY0: UInt8 = 0x34
        public static let dataY1: UInt8 = 0x35
        public static let dataZ0: UInt8 = 0x36
        public static let dataZ1: UInt8 = 0x37
        /// FIFO_CTL: mode, trigger, samples ("Register 0x38—FIFO_CTL").
        public static let fifoCtl: UInt8 = 0x38
        /// FIFO_STATUS, read-only: FIFO_TRIG and entries ("Register 0x39—FIFO_STATUS").
        public static let fifoStatus: UInt8 = 0x39
    }

    /// What DEVID reads on an ADXL345 ("Register 0x00—DEVID": fixed device ID code 0xE5;
    /// an ADXL346 answers 0xE6).
    public static let deviceID: UInt8 = 0xE5

    /// Bytes in one data burst DATAX0…DATAZ1.
    public static let sampleByteCount = 6

    /// Depth of the FIFO ("FIFO" section: 32 levels).
    public static let fifoDepth = 32

    /// POWER_CTL bits ("Register 0x2D—POWER_CTL"); D1:D0 are the wake-up rate, unused here.
    public struct PowerControl: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let link = PowerControl(rawValue: 0x20)
        public static let autoSleep = PowerControl(rawValue: 0x10)
        /// 1 = measurement mode, 0 = standby.
        public static let measure = PowerControl(rawValue: 0x08)
        public static let sleep = PowerControl(rawValue: 0x04)
    }

    /// BW_RATE bits ("Register 0x2C—BW_RATE"); D3:D0 hold the ``OutputDataRate`` code.
    public struct BandwidthRate: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// Reduced power, more noise. Must be 0 for self-test ("Self-Test" section).
        public static let lowPower = BandwidthRate(rawValue: 0x10)
        public static let rateMask: UInt8 = 0x0F

        public static func rate(_ rate: OutputDataRate) -> BandwidthRate { BandwidthRate(rawValue: rate.rawValue) }
    }

    /// DATA_FORMAT bits ("Register 0x31—DATA_FORMAT"); D1:D0 hold the ``MeasurementRange`` code.
    public struct DataFormat: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// Applies the electrostatic self-test force.
        public static let selfTest = DataFormat(rawValue: 0x80)
        /// 3-wire SPI; irrelevant on I2C.
        public static let spi = DataFormat(rawValue: 0x40)
        public static let intInvert = DataFormat(rawValue: 0x20)
        /// Full resolution: 3.9 mg/LSB at every range (10 bits at ±2 g up to 13 bits at ±16 g).
        public static let fullResolution = DataFormat(rawValue: 0x08)
        /// Left-justified (MSB) mode; this driver always uses right-justified (0).
        public static let justify = DataFormat(rawValue: 0x04)

        public static func range(_ range: MeasurementRange) -> DataFormat { DataFormat(rawValue: range.rawValue) }
    }

    /// FIFO_CTL fields ("Register 0x38—FIFO_CTL", data sheet "FIFO Modes" table).
    public struct FIFOControl: Equatable, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// D7:D6 = 00: FIFO bypassed. In bypass mode the FIFO "remains empty", so writing it clears
        /// entries left from an earlier configuration.
        public static let bypass = FIFOControl(rawValue: 0x00)
        /// D7:D6 = 01: collects up to 32 values, then stops.
        public static let fifo = FIFOControl(rawValue: 0x40)
        /// D7:D6 = 10: holds the newest 32 values; older ones are overwritten.
        public static let stream = FIFOControl(rawValue: 0x80)
        /// D7:D6 = 11: stream until a trigger, then FIFO.
        public static let trigger = FIFOControl(rawValue: 0xC0)
        public static let modeMask: UInt8 = 0xC0
        public static let samplesMask: UInt8 = 0x1F
    }

    /// FIFO_STATUS fields ("Register 0x39—FIFO_STATUS").
    public enum FIFOStatus {
        public static let fifoTrig: UInt8 = 0x80
        /// D5:D0: how many entries the FIFO holds (0…32).
        public static let entriesMask: UInt8 = 0x3F
    }

    /// INT_ENABLE / INT_MAP / INT_SOURCE bits ("Register 0x2E—INT_ENABLE" and following).
    public struct Interrupts: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let dataReady = Interrupts(rawValue: 0x80)
        public static let singleTap = Interrupts(rawValue: 0x40)
        public static let doubleTap = Interrupts(rawValue: 0x20)
        public static let activity = Interrupts(rawValue: 0x10)
        public static let inactivity = Interrupts(rawValue: 0x08)
        public static let freeFall = Interrupts(rawValue: 0x04)
        public static let watermark = Interrupts(rawValue: 0x02)
        /// New data replaced unread data (the FIFO overflowed in stream mode).
        public static let overrun = Interrupts(rawValue: 0x01)
    }

    /// The g range, DATA_FORMAT D1:D0 (data sheet "g Range Setting" table).
    public enum MeasurementRange: UInt8, CaseIterable, Sendable {
        case g2 = 0b00
        case g4 = 0b01
        case g8 = 0b10
        case g16 = 0b11

        /// The nominal full scale, ± this many g.
        public var fullScale: Double {
            switch self {
            case .g2: 2
            case .g4: 4
            case .g8: 8
            case .g16: 16
            }
        }
    }

    /// Output data rate, BW_RATE D3:D0 (data sheet "Typical Current Consumption vs. Data Rate"
    /// table): ODR = 3200 Hz / 2^(15 − code). Bandwidth is ODR/2.
    ///
    /// Over I2C at 100 kHz each FIFO entry costs about 1 ms of bus time, so rates above 400 Hz
    /// want the bus at 400 kHz (`dtparam=i2c_arm_baudrate=400000` on a Raspberry Pi).
    public enum OutputDataRate: UInt8, CaseIterable, Sendable {
        case hz0_10 = 0x00
        case hz0_20 = 0x01
        case hz0_39 = 0x02
        case hz0_78 = 0x03
        case hz1_56 = 0x04
        case hz3_13 = 0x05
        case hz6_25 = 0x06
        case hz12_5 = 0x07
        case hz25 = 0x08
        case hz50 = 0x09
        /// The reset value.
        case hz100 = 0x0A
        case hz200 = 0x0B
        case hz400 = 0x0C
        case hz800 = 0x0D
        case hz1600 = 0x0E
        case hz3200 = 0x0F

        /// Samples per second.
        public var hertz: Double { 3200 / Double(1 << (15 - Int(rawValue))) }

        /// Time between samples: 312.5 µs · 2^(15 − code), exact in nanoseconds.
        public var period: Duration { .nanoseconds(312_500 << (15 - Int(rawValue))) }

        /// The data sheet's self-test limits hold at 100…800 Hz and at 3200 Hz only
        /// ("Self-Test" section: below 100 Hz or at 1600 Hz values may fall outside them).
        public var supportsSelfTest: Bool {
            (OutputDataRate.hz100.rawValue...OutputDataRate.hz800.rawValue).contains(rawValue) || self == .hz3200
        }
    }
}

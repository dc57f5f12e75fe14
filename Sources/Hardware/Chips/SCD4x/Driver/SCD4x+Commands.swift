import HAL

// SCD4x command codes and execution times, transcribed from the Sensirion SCD4x datasheet
// (v1.3, September 2022, §3.4 Table 9). The SCD4x has no register map: every access is a 16-bit
// command sent MSB first, optionally followed by one data word + CRC (write) or, after the
// execution time, a read of CRC-protected words. Where the datasheet and Sensirion's current
// driver disagree on a wait, the longer one is used.

/// One SCD4x command: its 16-bit code, the name the datasheet gives it, and the time the chip
/// needs before it answers the read header or accepts the next command.
public struct SCD4xCommand: Hashable, Sendable, CustomStringConvertible {
    public let code: UInt16
    /// As in the datasheet: `read_measurement`.
    public let name: String
    /// Datasheet Table 9 "Execution time"; zero where the table gives "–".
    public let executionTime: Duration
    /// In the datasheet's "Low power single shot (SCD41 only)" group: an SCD40 does not know it.
    public let isSingleShotFamily: Bool

    public init(code: UInt16, name: String, executionTime: Duration, isSingleShotFamily: Bool = false) {
        self.code = code
        self.name = name
        self.executionTime = executionTime
        self.isSingleShotFamily = isSingleShotFamily
    }

    /// The bytes on the wire: `[MSB, LSB]` (datasheet §3.2; commands carry no CRC).
    public var bytes: [UInt8] { [UInt8(code >> 8), UInt8(code & 0xFF)] }

    /// `read_measurement (0xEC05)`.
    public var description: String { "\(name) (0x\(hex2(bytes[0]))\(hex2(bytes[1])))" }

    // MARK: Basic commands (§3.5)

    /// Periodic measurement, a new result every 5 s. Idle only.
    public static let startPeriodicMeasurement = SCD4xCommand(code: 0x21B1, name: "start_periodic_measurement",
                                                              executionTime: .zero)
    /// Three words + CRC: CO2, temperature, humidity. NACKed when no new result is buffered;
    /// reading empties the buffer. Also while measuring.
    public static let readMeasurement = SCD4xCommand(code: 0xEC05, name: "read_measurement",
                                                     executionTime: .milliseconds(1))
    /// Back to idle; the chip takes no other command for 500 ms. Also while measuring.
    public static let stopPeriodicMeasurement = SCD4xCommand(code: 0x3F86, name: "stop_periodic_measurement",
                                                             executionTime: .milliseconds(500))

    // MARK: On-chip output signal compensation (§3.6), idle only unless noted

    public static let setTemperatureOffset = SCD4xCommand(code: 0x241D, name: "set_temperature_offset",
                                                          executionTime: .milliseconds(1))
    public static let getTemperatureOffset = SCD4xCommand(code: 0x2318, name: "get_temperature_offset",
                                                          executionTime: .milliseconds(1))
    public static let setSensorAltitude = SCD4xCommand(code: 0x2427, name: "set_sensor_altitude",
                                                       executionTime: .milliseconds(1))
    public static let getSensorAltitude = SCD4xCommand(code: 0x2322, name: "get_sensor_altitude",
                                                       executionTime: .milliseconds(1))
    /// One word, the pressure in hPa (Pa / 100). Also while measuring.
    public static let setAmbientPressure = SCD4xCommand(code: 0xE000, name: "set_ambient_pressure",
                                                        executionTime: .milliseconds(1))

    // MARK: Field calibration (§3.7), idle only

    /// Write the target ppm, wait, read one word: correction + 0x8000, or 0xFFFF when it failed.
    public static let performForcedRecalibration = SCD4xCommand(code: 0x362F, name: "perform_forced_recalibration",
                                                                executionTime: .milliseconds(400))
    /// One word: 1 = on (factory default), 0 = off.
    public static let setAutomaticSelfCalibrationEnabled = SCD4xCommand(
        code: 0x2416, name: "set_automatic_self_calibration_enabled", executionTime: .milliseconds(1))
    public static let getAutomaticSelfCalibrationEnabled = SCD4xCommand(
        code: 0x2313, name: "get_automatic_self_calibration_enabled", executionTime: .milliseconds(1))

    // MARK: Low power (§3.8)

    /// Periodic measurement with a result about every 30 s. Idle only.
    public static let startLowPowerPeriodicMeasurement = SCD4xCommand(
        code: 0x21AC, name: "start_low_power_periodic_measurement", executionTime: .zero)
    /// One word; data is ready when any of its 11 low bits is set. Also while measuring.
    public static let getDataReadyStatus = SCD4xCommand(code: 0xE4B8, name: "get_data_ready_status",
                                                        executionTime: .milliseconds(1))

    // MARK: Advanced features (§3.9), idle only

    /// Settings from RAM to EEPROM (at least 2000 write cycles).
    public static let persistSettings = SCD4xCommand(code: 0x3615, name: "persist_settings",
                                                     executionTime: .milliseconds(800))
    /// Three words + CRC: the 48-bit serial number, most significant word first.
    public static let getSerialNumber = SCD4xCommand(code: 0x3682, name: "get_serial_number",
                                                     executionTime: .milliseconds(1))
    /// One word: 0 means no malfunction detected.
    public static let performSelfTest = SCD4xCommand(code: 0x3639, name: "perform_self_test",
                                                     executionTime: .seconds(10))
    public static let performFactoryReset = SCD4xCommand(code: 0x3632, name: "perform_factory_reset",
                                                         executionTime: .milliseconds(1200))
    /// Reload settings from EEPROM. The datasheet says 20 ms, Sensirion's current driver waits 30 ms.
    public static let reinit = SCD4xCommand(code: 0x3646, name: "reinit", executionTime: .milliseconds(30))

    // MARK: Low power single shot, SCD41 only (§3.10), idle only

    /// One measurement of CO2, temperature and humidity, then read_measurement.
    public static let measureSingleShot = SCD4xCommand(code: 0x219D, name: "measure_single_shot",
                                                       executionTime: .seconds(5), isSingleShotFamily: true)
    /// Temperature and humidity only; the CO2 word reads 0.
    public static let measureSingleShotRHTOnly = SCD4xCommand(code: 0x2196, name: "measure_single_shot_rht_only",
                                                              executionTime: .milliseconds(50),
                                                              isSingleShotFamily: true)
    public static let powerDown = SCD4xCommand(code: 0x36E0, name: "power_down", executionTime: .milliseconds(1),
                                               isSingleShotFamily: true)
    /// Not acknowledged by the chip. The datasheet says 20 ms, Sensirion's current driver 30 ms.
    public static let wakeUp = SCD4xCommand(code: 0x36F6, name: "wake_up", executionTime: .milliseconds(30),
                                            isSingleShotFamily: true)
}

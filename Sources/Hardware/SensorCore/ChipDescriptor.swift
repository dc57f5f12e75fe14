import HAL

/// Everything the rest of FieldAgent needs to know about one chip part, exported by the chip's
/// driver target (`BME280.descriptors`, …) and listed once in the `ChipCatalog` target: the
/// board loader, the doctor, telemetry and the conformance tests read it. Nothing outside the
/// chip's own folder `switch`es over chips.
///
/// A variant that the bus cannot tell apart from another (SHT30/31/35) is its own descriptor
/// with `identifiesAs` naming what identification can prove.
public struct ChipDescriptor: Sendable, CustomStringConvertible {
    /// What one channel of this chip can report.
    public struct ChannelSpec: Sendable, Equatable {
        public var channel: Channel
        /// Values the chip can physically report (its datasheet operating or output range); the
        /// doctor calls a reading outside it implausible.
        public var plausible: ClosedRange<Double>
        /// The smallest step the chip reports, in the channel's unit (datasheet resolution).
        public var resolution: Double

        public init(_ channel: Channel, plausible: ClosedRange<Double>, resolution: Double) {
            self.channel = channel
            self.plausible = plausible
            self.resolution = resolution
        }
    }

    /// The name board files use, upper case (`BME280`, `SHT31`, `SCD41`).
    public var name: String
    /// Other names board files may use for this part (`SHT3x` for SHT31), any case.
    public var aliases: [String]
    /// The driver family, as the doctor prints it (`SHT3x`).
    public var family: String
    /// What a successful identification proves, as the doctor says it (`SHT3x` for an SHT31,
    /// whose variants cannot be told apart on the bus; the part name otherwise).
    public var identifiesAs: String
    /// Addresses the chip can be strapped to, the default first.
    public var addresses: [I2CAddress]
    /// The pin or option that selects the address, for fix hints ("none" when the address is fixed).
    public var addressPin: String
    /// Whether this descriptor is the one the bus scan tries for its family (one per part that
    /// identification can tell apart).
    public var detectable: Bool
    /// The channels the driver reports, in its order, with their ranges and resolutions.
    public var channels: [ChannelSpec]
    /// Whether the chip at an address is this part (ID register, or a command answered with a
    /// valid CRC). `false` for an absent or different device; other bus failures are thrown.
    public var identify: @Sendable (_ bus: any I2CBus, _ address: I2CAddress, _ clock: any HALClock) throws(I2CError) -> Bool
    /// The driver for this part at an address.
    public var makeDriver: @Sendable (_ bus: any I2CBus, _ address: I2CAddress, _ clock: any HALClock) -> any Sensor
    /// What else identification can tell a technician (a serial number, a calibration flag),
    /// shown by the doctor beside a chip that identified; nil when the chip offers nothing.
    public var about: (@Sendable (_ bus: any I2CBus, _ address: I2CAddress, _ clock: any HALClock) -> String?)?
    /// The registers an `i2cdump`-style image of the chip reads (its datasheet register map);
    /// nil for a chip that takes commands instead of register reads (an image would send it
    /// commands).
    public var registerImage: ClosedRange<UInt8>?

    public init(name: String, aliases: [String] = [], family: String, identifiesAs: String? = nil,
                addresses: [I2CAddress], addressPin: String, detectable: Bool = true, channels: [ChannelSpec],
                identify: @escaping @Sendable (any I2CBus, I2CAddress, any HALClock) throws(I2CError) -> Bool,
                makeDriver: @escaping @Sendable (any I2CBus, I2CAddress, any HALClock) -> any Sensor,
                about: (@Sendable (any I2CBus, I2CAddress, any HALClock) -> String?)? = nil,
                registerImage: ClosedRange<UInt8>? = nil) {
        self.registerImage = registerImage
        self.name = name
        self.aliases = aliases
        self.family = family
        self.identifiesAs = identifiesAs ?? name
        self.addresses = addresses
        self.addressPin = addressPin
        self.detectable = detectable
        self.channels = channels
        self.identify = identify
        self.makeDriver = makeDriver
        self.about = about
    }

    /// The spec of `channel`, if this chip reports it.
    public func spec(_ channel: Channel) -> ChannelSpec? { channels.first { $0.channel == channel } }

    public var description: String { name }
}

import ChipCatalog
import Configuration
import HAL
import HALSimulation
import SensorCore

/// A board file as written in `boards/*.yaml`, validated. The schema is in `boards/README.md`.
public struct BoardFile: Sendable {
    public enum Backend: String, Sendable, CaseIterable {
        /// Real hardware: `/dev/i2c-N` and `/dev/gpiochipN` (issue 4's Linux backends).
        case linux
        /// Register-level chip models on a simulated bus, driven by a scenario.
        case simulated
    }

    public struct Chip: Sendable {
        /// Unique name on the board (`ambient`, `duct`, `motor`): how readings and doctor checks refer to it.
        public var name: String
        public var kind: ChipKind
        public var address: I2CAddress
        /// Simulated boards only: an `i2cdump` file (path resolved against the board file) to replay.
        public var dump: String?
    }

    public struct Bus: Sendable {
        /// `/dev/i2c-1` on Linux; any name on a simulated board (shown as written).
        public var path: String
        public var chips: [Chip]
    }

    public enum LineRole: String, Sendable, CaseIterable {
        case statusLED = "status_led"
        case alarm
        case button

        public var isOutput: Bool { self != .button }
        public var title: String {
            switch self {
            case .statusLED: "status LED"
            case .alarm: "alarm output"
            case .button: "technician button"
            }
        }
    }

    public struct GPIO: Sendable {
        /// `gpiochip0`, `/dev/gpiochip4` or a label such as `pinctrl-rp1`.
        public var chip: String
        public var lines: [LineRole: GPIOLineConfig]
    }

    public struct Sampling: Sendable {
        /// How often every sensor is read.
        public var interval: Duration = .seconds(1)
        /// How often an aggregate is sent (the twin's `sendFrequency` overrides it).
        public var sendFrequency: Duration = .seconds(30)
    }

    /// A fault planted on a simulated board.
    public enum PlantedFault: Sendable {
        case bus(chip: String, Fault.Kind, from: Duration, until: Duration?)
        /// Another program holds this line.
        case lineBusy(LineRole, consumer: String)
    }

    public struct Simulation: Sendable {
        public var scenario: Scenario
        public var faults: [PlantedFault]
        /// How fast simulated time runs against wall time in `run` and `read` (0 = as fast as possible).
        public var timeScale: Double
        /// Planted sets of the board's wall clock (`clock_steps`): at board time `at` the clock
        /// the agent stamps with moves by `by`. Empty: stamps are virtual time, as before.
        public var clockSteps: [SimulatedWallClock.Step] = []
    }

    /// Where the file was read from (for messages and relative paths).
    public var path: String
    public var name: String
    public var description: String?
    public var deviceID: String
    public var backend: Backend
    public var buses: [Bus]
    public var gpio: GPIO?
    public var sampling: Sampling
    public var simulation: Simulation?

    public var chips: [(bus: Bus, chip: Chip)] {
        buses.flatMap { bus in bus.chips.map { (bus, $0) } }
    }
}

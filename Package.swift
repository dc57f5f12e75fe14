// swift-tools-version:6.0
// FieldAgent: a device agent for Raspberry Pi-class ARM Linux boards.
// The folder tree is the architecture picture (docs/architecture.md): Sources/ and Tests/ are
// grouped by layer, and nothing points upward. Chip drivers see only HAL + SensorCore, chip
// models only HALSimulation + SensorCore.
import PackageDescription

/// The layer each target's folder sits in, under Sources/ (and its tests under Tests/). A test
/// target `XTests` sits in X's layer; "Conformance", "CLI" and "Chaos" name test-only suites.
let layers: [String: [String]] = [
    "Hardware": ["HAL", "SensorCore", "HALSimulation", "HALTesting", "HALLinux", "CLinuxI2C", "CGPIOD", "ChipCatalog", "Boards",
                 "Conformance"],
    "CloudLink": ["MQTT", "IoTHub", "COpenSSL", "COpenSSLShims", "Identity", "Transport", "HubClient",
                  "Provisioning"],
    "Agent": ["Configuration", "Outbox", "Diagnostics", "AgentRuntime", "fieldagent",
              "CLI", "Chaos",
              "HTTPServer", "AgentMetrics", "TechnicianPage"],
    "Predictor": ["Predictor", "PredictorLink", "PredictorServer", "TrainingData", "spike-predictor",
                  "PredictorONNX"],
    "Tools": ["LocalHub", "localhub", "fieldagent-hil", "hub-bench", "hub-fleet-bench", "outbox-bench"],
    "Common": ["JSON", "DeviceID", "SystemCalls",
               "ServiceNotify",
               "CKernelClock", "CLISupport", "CSQLite", "SQLite", "CYAML", "YAML"],
]

/// `Sources/<layer>/<target>`, or `Tests/<layer>/<target>` for a test target named `<target>Tests`.
func path(_ name: String) -> String {
    let isTest = name.hasSuffix("Tests")
    let base = isTest ? String(name.dropLast(5)) : name
    guard let layer = layers.first(where: { $0.value.contains(base) })?.key else {
        fatalError("Package.swift: \(base) is in no layer")
    }
    return isTest ? "Tests/\(layer)/\(name)" : "Sources/\(layer)/\(base)"
}

/// A chip contributes a driver target and a model target.
func chip(_ name: String) -> [Target] {
    [
        .target(name: name, dependencies: ["HAL", "SensorCore"], path: "Sources/Hardware/Chips/\(name)/Driver"),
        .target(name: "\(name)Model", dependencies: ["HALSimulation", "SensorCore"],
                path: "Sources/Hardware/Chips/\(name)/Model"),
        .testTarget(name: "\(name)Tests",
                    dependencies: [.target(name: name), .target(name: "\(name)Model"), "HALTesting", "HALSimulation"],
                    path: "Tests/Hardware/Chips/\(name)Tests"),
    ]
}

let chips = ["BME280", "SHT3x", "ADXL345", "SCD4x"]
let chipTargets: [Target.Dependency] = chips.flatMap { name -> [Target.Dependency] in
    [.target(name: name), .target(name: "\(name)Model")]
}

/// How the binaries that go on a board are linked in release builds on Linux (docs/device-binary.md,
/// "How it is linked"): with LLVM's lld, relative relocations packed (DT_RELR: a 9 KB table where
/// RELA entries took 1.1 MB that the loader reads and keeps resident; glibc 2.36, Debian 12), no
/// dynamic export of every Swift symbol (the driver's `-export-dynamic`: 0.3 MB of symbol table
/// nothing looks up), and, given a symbol ordering file, the functions a running agent executes
/// placed first so that the code it keeps resident is packed together (scripts/make-order-file.sh).
func deviceLinking(orderFile: String? = nil) -> [LinkerSetting] {
    var flags = ["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--no-export-dynamic"]
    if let orderFile {
        flags += ["-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/\(orderFile)",
                  "-Xlinker", "--no-warn-symbol-ordering"]
    }
    return [.unsafeFlags(flags, .when(platforms: [.linux], configuration: .release))]
}

let package = Package(
    name: "FieldAgent",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fieldagent", targets: ["fieldagent"]),
        .executable(name: "localhub", targets: ["localhub"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .target(name: "HAL", dependencies: ["SystemCalls"]),
        .target(name: "SensorCore", dependencies: ["HAL"]),
        .target(name: "Configuration", dependencies: ["YAML", "DeviceID"]),
        // YAML through the system libyaml: our own node tree (scalars as written, mappings in
        // document order, line marks), so no Yams and no Foundation in the device binary.
        .systemLibrary(name: "CYAML", path: path("CYAML"), pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .target(name: "YAML", dependencies: ["CYAML"]),
        .testTarget(name: "YAMLTests", dependencies: ["YAML"]),
        // One JSON value for the agent, LocalHub, the CLI and the predictor (standard library only).
        .target(name: "JSON"),
        // IoT Hub's device-id rule, the one every device id is checked against.
        .target(name: "DeviceID"),
        // The one wrapper over the C library's file, socket and poll calls, and the one SystemError:
        // HALLinux, Identity, Transport, HubClient, Outbox, PredictorLink, PredictorServer and LocalHub call
        // the OS through it.
        .target(name: "SystemCalls", dependencies: ["CKernelClock"]),
        // sd_notify(3) without libsystemd: READY/STATUS/STOPPING and the watchdog, datagrams through SystemCalls.
        .target(name: "ServiceNotify", dependencies: ["SystemCalls", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "ServiceNotifyTests", dependencies: ["ServiceNotify", "SystemCalls"]),
        // adjtimex (read only), which the C library module does not export: the clock's synchronisation.
        .target(name: "CKernelClock"),
        // What the three executables do alike: exit codes, logging set-up, whole-line output.
        .target(name: "CLISupport", dependencies: ["SystemCalls", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                                   .product(name: "Logging", package: "swift-log")]),
        .target(name: "HALSimulation", dependencies: ["HAL", "SensorCore", "SystemCalls"]),
        .target(name: "HALTesting", dependencies: ["HAL"]),
        // The one list of chips: each chip's descriptors and model factories (no YAML, no backend).
        .target(name: "ChipCatalog", dependencies: ["HAL", "HALSimulation", "SensorCore"] + chipTargets),
        .target(name: "Boards",
                dependencies: ["HAL", "HALLinux", "HALSimulation", "SensorCore", "ChipCatalog", "Configuration", "YAML"]),
        .target(name: "Diagnostics", dependencies: ["Boards", "ChipCatalog", "HAL", "SensorCore", .product(name: "Logging", package: "swift-log")]),
        .target(name: "AgentRuntime", dependencies: ["Boards", "Configuration", "Diagnostics", "HAL", "HALLinux", "JSON", "SensorCore", "HubClient", "IoTHub", "Identity", "MQTT", "Outbox", "Predictor", "PredictorLink", "Provisioning", "SystemCalls", "Transport", .product(name: "Logging", package: "swift-log"),
                                                    "ServiceNotify", "HALSimulation"]),
        // The device binary: no LocalHub, SwiftNIO or TrainingData (scripts/check-device-binary.sh).
        .executableTarget(name: "fieldagent", dependencies: [
            "AgentRuntime", "Boards", "CLISupport", "Configuration", "DeviceID", "Diagnostics", "Identity", "HubClient", "IoTHub", "JSON", "Provisioning", "SystemCalls",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], linkerSettings: deviceLinking(orderFile: "scripts/link/fieldagent.order")),
        .testTarget(name: "HALTests", dependencies: ["HAL", "HALSimulation", "HALTesting", "SensorCore"]),
        .testTarget(name: "SensorCoreTests", dependencies: ["SensorCore", "Configuration"]),
        .testTarget(name: "BoardsTests", dependencies: ["Boards"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ConformanceTests", dependencies: ["ChipCatalog", "Boards", "HALSimulation", "SensorCore"]),
        .testTarget(name: "AgentRuntimeTests", dependencies: ["AgentRuntime", "Boards", "Configuration", "DeviceID", "HAL", "HALLinux", "HALSimulation", "HALTesting", "SensorCore",
                                                           "HubClient", "IoTHub", "Identity", "JSON", "LocalHub", "Outbox", "TestSupport",
                                                           "Provisioning"]),
        .testTarget(name: "DiagnosticsTests", dependencies: ["Diagnostics", "Boards", "HALSimulation"]),
        // Snapshots are read through #filePath so UPDATE_SNAPSHOTS=1 can rewrite them in place.
        .testTarget(name: "CLITests", dependencies: ["fieldagent"], exclude: ["Snapshots"]),
        // Linux backends (issue 4): i2c-dev and libgpiod behind the HAL protocols, and the
        // kernel-level hardware-in-the-loop executable that scripts/kernel-hil.sh boots under qemu.
        .target(name: "CLinuxI2C"),
        // One C API over libgpiod 1.6 or 2.x, whichever <gpiod.h> the build finds (libgpiod-dev).
        .target(name: "CGPIOD", linkerSettings: [.linkedLibrary("gpiod")]),
        .target(name: "HALLinux", dependencies: ["HAL", "CLinuxI2C", "CGPIOD", "SystemCalls"]),
        .executableTarget(name: "fieldagent-hil", dependencies: [
            "HALLinux", "HAL", "ChipCatalog", "Boards", "Diagnostics", "HALSimulation", "SensorCore",
            "BME280", "BME280Model", "ADXL345", "ADXL345Model",
        ]),
        .testTarget(name: "HALLinuxTests", dependencies: ["HALLinux", "HAL", "HALTesting", "HALSimulation"]),
        .testTarget(name: "SystemCallsTests", dependencies: ["SystemCalls"]),
        // X.509 identity and TLS over the system OpenSSL 3 (one crypto stack).
        .systemLibrary(name: "COpenSSL", path: path("COpenSSL"), pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        .target(name: "COpenSSLShims", dependencies: ["COpenSSL"]),
        .target(name: "Identity", dependencies: ["COpenSSL", "COpenSSLShims", "SystemCalls"]),
        .target(name: "Transport", dependencies: ["COpenSSL", "COpenSSLShims", "Identity", "SystemCalls"]),
        .testTarget(name: "IdentityTests", dependencies: ["Identity"]),
        .testTarget(name: "TransportTests", dependencies: ["Transport", "Identity"]),
        // Pure protocol targets: standard library only, no I/O. The fuzzer in
        // fuzz/ compiles Sources/MQTT/*.swift directly, so MQTT must stay dependency-free.
        .target(name: "MQTT"),
        .target(name: "IoTHub", dependencies: ["MQTT", "DeviceID"]),
        .testTarget(name: "MQTTTests", dependencies: ["MQTT"]),
        .testTarget(name: "IoTHubTests", dependencies: ["IoTHub", "MQTT"]),
        // Azure DPS over MQTT (X.509, optional certificate issuance): topics, bodies and the
        // register/poll state machine (pure: events in, actions out).
        .target(name: "Provisioning", dependencies: ["IoTHub", "JSON"]),
        .testTarget(name: "ProvisioningTests", dependencies: ["Provisioning", "JSON", "HubClient", "Identity", "MQTT", "Transport"]),
        // The device side of the hub link: performs the MQTT session's actions over TLS.
        .target(name: "HubClient", dependencies: ["MQTT", "IoTHub", "Transport", "Identity", "SystemCalls",
                                                  "Provisioning", "JSON",
                                                  .product(name: "Logging", package: "swift-log")]),
        // Real servers for tests (Mosquitto with mutual TLS, mosquitto_sub); not shipped in a product.
        .target(name: "TestSupport", dependencies: ["Identity"], path: "Tests/TestSupport"),
        .testTarget(name: "HubClientTests", dependencies: ["HubClient", "Identity", "IoTHub", "TestSupport"]),
        // Issue-3 publish benchmark (scripts/bench-publish.sh runs it next to mosquitto_pub).
        .executableTarget(name: "hub-bench", dependencies: ["HubClient", "IoTHub", "Identity",
                                                           .product(name: "Logging", package: "swift-log")]),
        // The system SQLite and a thin wrapper over it (prepared statements, transactions, errors
        // with SQLite's result code): the device binary's SQLite, without GRDB or Foundation.
        .systemLibrary(name: "CSQLite", path: path("CSQLite"), pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "SQLite", dependencies: ["CSQLite"]),
        .testTarget(name: "SQLiteTests", dependencies: ["SQLite"]),
        // Issue 6: the durable outbox (SQLite, WAL, one file under the state directory), its
        // benchmark (scripts/bench-outbox.sh), which also serves as the process the kill -9 test kills.
        .target(name: "Outbox", dependencies: ["SQLite", "SystemCalls", .product(name: "Logging", package: "swift-log")]),
        .executableTarget(name: "outbox-bench", dependencies: ["Outbox", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "OutboxTests", dependencies: ["Outbox", "outbox-bench",
                                                        .product(name: "Logging", package: "swift-log")]),
        // Issue 7: the edge spike predictor. Predictor is pure (features, tree ensemble, fallback
        // detector, predictor.v1 framing; standard library and JSON only); TrainingData turns simulator
        // scenarios into labelled readings; PredictorServer serves predictor.v1 on a Unix socket
        // with SwiftNIO; PredictorLink is the agent's blocking client; spike-predictor the service.
        .target(name: "Predictor", dependencies: ["JSON"]),
        .target(name: "TrainingData", dependencies: ["HALSimulation", "SensorCore", "Predictor"]),
        // ONNX-ML tree ensembles for the predictor service only (never the device binary).
        .target(name: "PredictorONNX", dependencies: ["Predictor"]),
        .target(name: "PredictorServer", dependencies: [
            "Predictor", "SystemCalls",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "PredictorLink", dependencies: ["Predictor", "SystemCalls"]),
        .executableTarget(name: "spike-predictor", dependencies: [
            "CLISupport", "JSON", "Predictor", "PredictorServer", "PredictorLink", "TrainingData",
            "ServiceNotify",
            "PredictorONNX",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], linkerSettings: deviceLinking()),
        .testTarget(name: "PredictorTests", dependencies: ["Predictor", "JSON",
                                                           "PredictorONNX"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "TrainingDataTests", dependencies: ["TrainingData", "Predictor", "HALSimulation"]),
        .testTarget(name: "PredictorServerTests", dependencies: [
            "PredictorServer", "PredictorLink", "Predictor",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // LocalHub (issue 5): FieldAgent's IoT Hub emulator. The per-connection protocol logic
        // (HubSession, TwinDocument) is pure; NIO, OpenSSL memory BIOs and SQLite sit around it.
        .target(name: "LocalHub", dependencies: [
            "JSON", "MQTT", "IoTHub", "Identity", "SystemCalls", "Transport",
            "Configuration",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // LocalHub's command line, for development machines (not the device).
        .executableTarget(name: "localhub", dependencies: [
            "CLISupport", "Configuration", "JSON", "LocalHub",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "LocalHubTests", dependencies: [
            "JSON", "LocalHub", "localhub", "HubClient", "Identity", "Transport", "MQTT", "IoTHub",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "InMemoryLogging", package: "swift-log"),
        ], exclude: ["thirdparty"]),
        // 1,000 simulated devices against one LocalHub (scripts/bench-fleet.sh).
        .executableTarget(name: "hub-fleet-bench", dependencies: [
            "JSON", "LocalHub", "Transport", "Identity", "MQTT", "IoTHub",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Issue 18: the agent's HTTP endpoints (Prometheus metrics, the technician's page) on one
        // poll-loop thread of our own: Hummingbird's graph has a second `Configuration` module and
        // SwiftNIO, which the device binary keeps out (docs/architecture.md, design decisions).
        .target(name: "HTTPServer", dependencies: ["HAL", "SystemCalls", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", .product(name: "Logging", package: "swift-log")]),
        // The agent's metrics in swift-prometheus' registry, and the process's own (/proc/self).
        .target(name: "AgentMetrics", dependencies: ["SystemCalls", .product(name: "Prometheus", package: "swift-prometheus")]),
        // The technician's page: HTML with inline SVG charts from a snapshot (pure, no assets).
        .target(name: "TechnicianPage"),
        // Issue 6 chaos suite: real fieldagent processes killed, a hub restarted, a full outbox.
        .testTarget(name: "ChaosTests", dependencies: ["LocalHub", "Identity", "Outbox", "TestSupport",
                                                       .product(name: "Logging", package: "swift-log")],
                    exclude: ["Fixtures"]),
    ] + chips.flatMap(chip),
    swiftLanguageModes: [.v6]
)

// Issue 18: the agent serves metrics and the technician's page (its own lines, for easy merges).
package.targets.first { $0.name == "AgentRuntime" }?.dependencies += ["HTTPServer", "AgentMetrics", "TechnicianPage"]
package.targets.first { $0.name == "AgentRuntimeTests" }?.dependencies += ["HTTPServer"]
// The hot-swap acceptance test pins the model it delivers with the predictor's own SHA-256.
package.targets.first { $0.name == "AgentRuntimeTests" }?.dependencies += ["PredictorServer"]

// Every target without an explicit path lives at its layer's folder (see `layers` above).
// Every test target may use the shared helpers in Tests/TestSupport.
for target in package.targets {
    if target.path == nil { target.path = path(target.name) }
    if target.type == .test && !target.dependencies.contains(where: { "\($0)".contains("\"TestSupport\"") }) {
        target.dependencies.append("TestSupport")
    }
}

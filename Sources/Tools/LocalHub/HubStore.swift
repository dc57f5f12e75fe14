import GRDB
import JSON

/// LocalHub's durable state: `hub.sqlite` (WAL) under the state folder with the device registry,
/// the registered CAs and every twin, so a restart keeps them (issue 5).
///
/// Tables: `device(id, authentication, primaryThumbprint, secondaryThumbprint)`,
/// `certificateAuthority(sha256, subject, pem)`, `twin(deviceID, desired, desiredVersion,
/// reported, reportedVersion)` with the twin sections as JSON text.
///
/// Contract: every write is one transaction; errors name the operation and the file.
final class HubStore: Sendable {
    let path: String
    private let pool: DatabasePool

    init(path: String) throws(HubError) {
        self.path = path
        do {
            pool = try DatabasePool(path: path)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("localhub-v1") { db in
                try db.execute(sql: """
                    CREATE TABLE device (
                        id TEXT PRIMARY KEY NOT NULL,
                        authentication TEXT NOT NULL,
                        primaryThumbprint TEXT,
                        secondaryThumbprint TEXT);
                    CREATE TABLE certificateAuthority (
                        sha256 TEXT PRIMARY KEY NOT NULL,
                        subject TEXT NOT NULL,
                        pem TEXT NOT NULL);
                    CREATE TABLE twin (
                        deviceID TEXT PRIMARY KEY NOT NULL,
                        desired TEXT NOT NULL,
                        desiredVersion INTEGER NOT NULL,
                        reported TEXT NOT NULL,
                        reportedVersion INTEGER NOT NULL);
                    """)
            }
            try migrator.migrate(pool)
        } catch {
            throw .storage(operation: "opening the database", path: path, reason: "\(error)")
        }
    }

    func devices() throws(HubError) -> [DeviceRecord] {
        try run("reading the device registry") { () throws -> [DeviceRecord] in
            try pool.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM device ORDER BY id").map { row in
                    let id: String = row["id"]
                    let kind: String = row["authentication"]
                    if kind == "certificateAuthority" {
                        return DeviceRecord(deviceID: id, authentication: .certificateAuthority)
                    }
                    let primary: String = row["primaryThumbprint"] ?? ""
                    let secondary: String? = row["secondaryThumbprint"]
                    return DeviceRecord(deviceID: id, authentication: .thumbprint(primary: primary, secondary: secondary))
                }
            }
        }
    }

    func save(_ device: DeviceRecord) throws(HubError) {
        var primary: String?
        var secondary: String?
        if case let .thumbprint(first, second) = device.authentication {
            primary = first
            secondary = second
        }
        try run("saving device \(device.deviceID)") { () throws -> Void in
            try pool.write { db in
                try db.execute(sql: """
                    INSERT INTO device (id, authentication, primaryThumbprint, secondaryThumbprint)
                    VALUES (?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET authentication = excluded.authentication,
                        primaryThumbprint = excluded.primaryThumbprint, secondaryThumbprint = excluded.secondaryThumbprint
                    """, arguments: [device.deviceID, device.authentication.typeName, primary, secondary])
            }
        }
    }

    func certificateAuthorities() throws(HubError) -> [RegisteredCA] {
        try run("reading the registered CAs") { () throws -> [RegisteredCA] in
            try pool.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM certificateAuthority ORDER BY subject").map { row in
                    RegisteredCA(subject: row["subject"], sha256Thumbprint: row["sha256"], pem: row["pem"])
                }
            }
        }
    }

    func save(_ authority: RegisteredCA) throws(HubError) {
        try run("saving CA \(authority.subject)") { () throws -> Void in
            try pool.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO certificateAuthority (sha256, subject, pem) VALUES (?, ?, ?)",
                               arguments: [authority.sha256Thumbprint, authority.subject, authority.pem])
            }
        }
    }

    func twins() throws(HubError) -> [String: TwinDocument] {
        try run("reading the twins") { () throws -> [String: TwinDocument] in
            try pool.read { db in
                var twins: [String: TwinDocument] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT * FROM twin") {
                    let id: String = row["deviceID"]
                    let desired: String = row["desired"]
                    let reported: String = row["reported"]
                    twins[id] = TwinDocument(desired: (try? JSONValue.parse(desired))?.objectValue ?? [:],
                                             desiredVersion: row["desiredVersion"],
                                             reported: (try? JSONValue.parse(reported))?.objectValue ?? [:],
                                             reportedVersion: row["reportedVersion"])
                }
                return twins
            }
        }
    }

    func save(twin: TwinDocument, deviceID: String) throws(HubError) {
        let desired = JSONValue.object(twin.desired).description
        let reported = JSONValue.object(twin.reported).description
        try run("saving the twin of \(deviceID)") { () throws -> Void in
            try pool.write { db in
                try db.execute(sql: """
                    INSERT OR REPLACE INTO twin (deviceID, desired, desiredVersion, reported, reportedVersion)
                    VALUES (?, ?, ?, ?, ?)
                    """, arguments: [deviceID, desired, twin.desiredVersion, reported, twin.reportedVersion])
            }
        }
    }

    private func run<T>(_ operation: String, _ body: () throws -> T) throws(HubError) -> T {
        do { return try body() } catch { throw .storage(operation: operation, path: path, reason: "\(error)") }
    }
}

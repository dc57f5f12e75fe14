import Foundation
import Identity
import TestSupport
import Testing

@Suite("Key files opened once and judged on the descriptor; key URIs; one key across reconnects")
struct KeyFileTests {
    let directory: TemporaryDirectory

    init() throws {
        directory = try TemporaryDirectory()
        _ = try DevPKI.generate(outputDirectory: directory.path, devices: ["pump-7"], now: testNow)
    }

    var certificate: String { directory.file("pump-7.pem") }
    var key: String { directory.file("pump-7.key") }

    @Test("a symbolic link to a good key is refused with its own reason, and the file itself loads")
    func symlinkRefused() throws {
        let link = directory.file("link.key")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: key)
        let error = identityError { try X509Identity.load(certificateFile: certificate, keyFile: link) }
        #expect(error == .keyFileSymlink(path: link))
        #expect(error?.description.hasPrefix("private key \(link) is a symbolic link; the agent opens key files only directly") == true)
        #expect(identityError { try PrivateKey.requireOwnerOnly(file: link) } == .keyFileSymlink(path: link))
        _ = try X509Identity.load(certificateFile: certificate, keyFile: key)
    }

    @Test("a folder or a FIFO where the key should be is refused as not a regular file")
    func notRegularRefused() throws {
        let folder = directory.file("folder.key")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        #expect(identityError { try PrivateKey.load(file: folder) } == .keyFileNotRegular(path: folder))
        let fifo = directory.file("fifo.key")
        #expect(mkfifo(fifo, 0o600) == 0)
        // Opened without blocking: a FIFO with no writer must not hang the agent.
        #expect(identityError { try PrivateKey.load(file: fifo) } == .keyFileNotRegular(path: fifo))
    }

    @Test("a key file owned by another user (not root) is refused with the chown hint",
          .enabled(if: geteuid() == 0, "needs root to give the file to another user"))
    func otherOwnerRefused() throws {
        #expect(chown(key, 4242, 4242) == 0)
        let error = identityError { try X509Identity.load(certificateFile: certificate, keyFile: key) }
        #expect(error == .keyFileOwner(path: key, owner: 4242, user: 0))
        #expect(error?.description.hasSuffix("run `chown 0 \(key)`") == true)
        #expect(chown(key, 0, 0) == 0)
        _ = try X509Identity.load(certificateFile: certificate, keyFile: key)
    }

    @Test("an oversized file is refused before parsing")
    func oversizedRefused() throws {
        let big = directory.file("big.key")
        _ = FileManager.default.createFile(atPath: big, contents: Data(repeating: 0x41, count: 70_000),
                                       attributes: [.posixPermissions: 0o600])
        guard case let .file(path, operation, errno, _) = identityError({ try PrivateKey.load(file: big) }) else {
            Issue.record("expected a file error")
            return
        }
        #expect(path == big && operation == "read" && errno == EFBIG)
    }

    @Test("the key setting is a URI for a known scheme, else a file path")
    func keyLocations() {
        #expect(KeyLocation("handle:0x81000001") == .provider(uri: "handle:0x81000001", provider: "tpm2"))
        #expect(KeyLocation("/etc/fieldagent/device.key") == .file(path: "/etc/fieldagent/device.key"))
        #expect(KeyLocation("keys/handle:1.pem") == .file(path: "keys/handle:1.pem"))
        #expect(KeyLocation("file:device.key") == .file(path: "file:device.key"))
        #expect(KeyLocation("handle:0x81000001").description.hasPrefix("held by the TPM at handle:0x81000001 "
            + "(OpenSSL provider tpm2, "))
        #expect(KeyLocation(key).description == "file \(key)")
    }

    @Test("one key object across reconnects; a replaced key file is loaded again")
    func deviceKeyKeptUntilFileChanges() throws {
        let deviceKey = DeviceKey(KeyLocation(key))
        let first = try deviceKey.current()
        #expect(try deviceKey.current() === first)

        // Replace the file as an operator would (write a new one, rename over): a new inode.
        let other = try DevPKI.generate(outputDirectory: directory.file("other"), devices: ["pump-7"], now: testNow)
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.copyItem(atPath: try #require(other.files.devices["pump-7"]).key, toPath: key)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key)
        let second = try deviceKey.current()
        #expect(second !== first)
        #expect(try second.pem() != first.pem())
        #expect(try deviceKey.current() === second)

        // A key turned into a symbolic link is refused, not served from the cache.
        try FileManager.default.moveItem(atPath: key, toPath: directory.file("moved.key"))
        try FileManager.default.createSymbolicLink(atPath: key, withDestinationPath: directory.file("moved.key"))
        #expect(identityError { try deviceKey.current() } == .keyFileSymlink(path: key))
    }
}

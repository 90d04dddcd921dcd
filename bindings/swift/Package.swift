// swift-tools-version:5.9
// RapportCore for iOS: the generated Swift bindings (scripts/gen-bindings.sh)
// over the Rust core, shipped as an XCFramework binary target.
//
// RapportCoreFFI.xcframework is built on macOS (see README.md): one static
// library per platform slice (ios-arm64, ios-arm64_x86_64-simulator), each
// with Headers/ holding RapportCoreFFI.h and module.modulemap from
// RapportCoreFFI/include/.
import PackageDescription

let package = Package(
    name: "RapportCore",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "RapportCore", targets: ["RapportCore"]),
    ],
    targets: [
        .binaryTarget(name: "RapportCoreFFI", path: "RapportCoreFFI.xcframework"),
        .target(
            name: "RapportCore",
            dependencies: ["RapportCoreFFI"],
            path: "Sources/RapportCore"
        ),
    ]
)

// swift-tools-version:5.9
// RapportCore for iOS: the generated Swift bindings (scripts/gen-bindings.sh)
// over the Rust core, shipped as an XCFramework binary target.
//
// RapportCoreFFI.xcframework is built on macOS (see README.md): one static
// library per platform slice (ios-arm64, ios-arm64_x86_64-simulator), each
// with Headers/ holding RapportCoreFFI.h and module.modulemap from
// RapportCoreFFI/include/. The platforms are exactly those slices: iOS
// (device and simulator); a macOS entry would let SwiftPM resolve a build
// for which the XCFramework has no library.
import PackageDescription

let package = Package(
    name: "RapportCore",
    platforms: [.iOS(.v15)],
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

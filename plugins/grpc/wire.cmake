# dp_grpcwire: the gRPC transport core (HTTP/2 via nghttp2, gRPC framing,
# one call object per stream) as a static library of position-independent
# code with hidden symbols. Transport-agnostic and timer-free, so that
# tests/unit/test_grpcwire_*.c and fuzz/fuzz_grpc_frames.c drive it
# through memory; the grpc plugin links it.
pkg_check_modules(GRPC_NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2)

add_library(dp_grpcwire STATIC
  ${CMAKE_CURRENT_LIST_DIR}/h2_conn.c
  ${CMAKE_CURRENT_LIST_DIR}/grpc_call.c
  ${CMAKE_CURRENT_LIST_DIR}/grpc_wire_util.c)
target_include_directories(dp_grpcwire PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(dp_grpcwire PUBLIC PkgConfig::GRPC_NGHTTP2)
set_target_properties(dp_grpcwire PROPERTIES POSITION_INDEPENDENT_CODE ON
                                             C_VISIBILITY_PRESET hidden)

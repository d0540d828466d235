# Finds msgpack-c (C++) and sets SHMRING_MSGPACK_TARGET and
# SHMRING_MSGPACK_PACKAGE (the find_package name, for the installed config).
# Debian 13 ships msgpack-cxx 6 (package `msgpack-cxx`, target `msgpack-cxx`);
# Debian 12 ships msgpack-cxx 4 (package `msgpack`, target `msgpackc-cxx`).
if(NOT SHMRING_MSGPACK_TARGET)
  find_package(msgpack-cxx CONFIG QUIET)
  if(TARGET msgpack-cxx)
    set(SHMRING_MSGPACK_TARGET msgpack-cxx)
    set(SHMRING_MSGPACK_PACKAGE msgpack-cxx)
  else()
    find_package(msgpack CONFIG QUIET)
    if(TARGET msgpackc-cxx)
      set(SHMRING_MSGPACK_TARGET msgpackc-cxx)
      set(SHMRING_MSGPACK_PACKAGE msgpack)
    endif()
  endif()
  if(NOT SHMRING_MSGPACK_TARGET)
    message(FATAL_ERROR "shmring: msgpack-c (C++) not found; install libmsgpack-cxx-dev (scripts/bootstrap does)")
  endif()
endif()

# Looks up what messaging/ (shmring::typed, shmring::actors) needs, without
# failing: the top-level CMakeLists turns SHMRING_BUILD_MESSAGING on by
# default only when everything is found, messaging/ stops with a clear message
# when it is on anyway. Sets
#   SHMRING_MSGPACK_TARGET           msgpack-c's C++ target, if found
#   SHMRING_CONCURRENTQUEUE_INCLUDE  (cached) the directory holding concurrentqueue/
#   SHMRING_MESSAGING_MISSING        what was not found, with its Debian package
#
# msgpack-c: Debian 13 ships msgpack-cxx 6 (package `msgpack-cxx`, target
# `msgpack-cxx`); Debian 12 ships msgpack-cxx 4 (package `msgpack`, target
# `msgpackc-cxx`). moodycamel::ConcurrentQueue is header-only and used only
# inside messaging/src: consumers of the installed package do not need it.
if(NOT SHMRING_MSGPACK_TARGET)
  find_package(msgpack-cxx CONFIG QUIET)
  if(TARGET msgpack-cxx)
    set(SHMRING_MSGPACK_TARGET msgpack-cxx)
  else()
    find_package(msgpack CONFIG QUIET)
    if(TARGET msgpackc-cxx)
      set(SHMRING_MSGPACK_TARGET msgpackc-cxx)
    endif()
  endif()
endif()
find_path(SHMRING_CONCURRENTQUEUE_INCLUDE concurrentqueue/concurrentqueue.h)

set(SHMRING_MESSAGING_MISSING "")
if(NOT SHMRING_MSGPACK_TARGET)
  list(APPEND SHMRING_MESSAGING_MISSING "msgpack-c for C++ (libmsgpack-cxx-dev)")
endif()
if(NOT SHMRING_CONCURRENTQUEUE_INCLUDE)
  list(APPEND SHMRING_MESSAGING_MISSING "moodycamel::ConcurrentQueue (libconcurrentqueue-dev)")
endif()
list(JOIN SHMRING_MESSAGING_MISSING " and " SHMRING_MESSAGING_MISSING)

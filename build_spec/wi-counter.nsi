; NSIS script of the Windows installer wi-counter-setup-VERSION.exe (scripts/build-windows.sh runs
; makensis with -DVERSION=… -DSRCDIR=<dist-windows\wi-counter> -DOUTFILE=… -DICON=…).
;
; Per machine: the program under Program Files (read-only for clerks is fine), shortcuts in the
; Start menu and on the desktop for all users, an uninstaller registered in 应用和功能.
; Offline: everything is inside the installer. The counter's data, settings and logs live in each
; user's own folders (%LOCALAPPDATA%\wi-counter, %APPDATA%\wi-counter), which neither an upgrade nor
; the uninstaller touches. Silent: `wi-counter-setup-X.exe /S [/D=C:\path]`, `uninstall.exe /S`.

; A 64-bit installer (the program is 64-bit; Debian's nsis carries the amd64 stubs, and Wine's
; wine64 alone runs no 32-bit program).
Target amd64-unicode
ManifestDPIAware true
SetCompressor zlib  ; lzma is ~20% smaller but takes minutes on the CI machine

!ifndef VERSION
  !error "makensis -DVERSION=x.y.z"
!endif
!ifndef SRCDIR
  !error "makensis -DSRCDIR=<the built wi-counter folder>"
!endif

!define APP "wi-counter"
!define TITLE "工伤联网结算窗口"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP}"

!include "MUI2.nsh"
!include "x64.nsh"

Name "${TITLE} ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\${APP}"
InstallDirRegKey HKLM "${UNINST_KEY}" "InstallLocation"
RequestExecutionLevel admin
BrandingText "${APP} ${VERSION}"

VIProductVersion "${VERSION}.0"
VIAddVersionKey /LANG=2052 "ProductName" "${APP} ${TITLE}"
VIAddVersionKey /LANG=2052 "FileDescription" "${TITLE} 安装程序"
VIAddVersionKey /LANG=2052 "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=2052 "ProductVersion" "${VERSION}"
VIAddVersionKey /LANG=2052 "CompanyName" "${APP}"
VIAddVersionKey /LANG=2052 "LegalCopyright" "${APP}"

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\wi-counter.exe"
!define MUI_FINISHPAGE_RUN_TEXT "启动${TITLE}"

!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "SimpChinese"

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "本程序需要 64 位 Windows 10 或 11。" /SD IDOK
    Abort
  ${EndIf}
  SetRegView 64
  SetShellVarContext all
FunctionEnd

Function un.onInit
  SetRegView 64
  SetShellVarContext all
FunctionEnd

Section "${TITLE}" SecMain
  SectionIn RO
  SetOutPath "$INSTDIR"
  ; An upgrade replaces the program files whole (a library left from the old version must not be
  ; loaded by the new one). Only program files live here; the user's data is elsewhere.
  RMDir /r "$INSTDIR\_internal"
  File /r "${SRCDIR}/*"

  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateDirectory "$SMPROGRAMS\${TITLE}"
  CreateShortcut "$SMPROGRAMS\${TITLE}\${TITLE}.lnk" "$INSTDIR\wi-counter.exe" "" "$INSTDIR\wi-counter.exe" 0
  CreateShortcut "$SMPROGRAMS\${TITLE}\卸载${TITLE}.lnk" "$INSTDIR\uninstall.exe"
  CreateShortcut "$DESKTOP\${TITLE}.lnk" "$INSTDIR\wi-counter.exe" "" "$INSTDIR\wi-counter.exe" 0

  WriteRegStr HKLM "${UNINST_KEY}" "DisplayName" "${TITLE} (${APP})"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINST_KEY}" "Publisher" "${APP}"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\wi-counter.exe,0"
  WriteRegStr HKLM "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoRepair" 1
SectionEnd

Section "Uninstall"
  ; The program files only: data, settings and logs in the users' folders stay (a reinstall or a
  ; newer version finds them; moving a counter copies them — docs/windows.md).
  Delete "$INSTDIR\wi-counter.exe"
  Delete "$INSTDIR\wi-counter-cli.exe"
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"

  Delete "$DESKTOP\${TITLE}.lnk"
  RMDir /r "$SMPROGRAMS\${TITLE}"
  DeleteRegKey HKLM "${UNINST_KEY}"
SectionEnd

; Inno Setup 6 script: the Windows installer for desktop-search (x64).
; It cannot be built on Linux. On Windows, from the repository root, with the
; app's Python environment active, without the torch extra (pip install -e ".[packaging]"):
;
;   pyinstaller --noconfirm --distpath dist --workpath build packaging\desktop-search.spec
;   for /f %v in ('python -c "import tomllib;print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])"') do set VER=%v
;   "%ProgramFiles(x86)%\Inno Setup 6\ISCC.exe" /DAppVersion=%VER% packaging\windows\desktop-search.iss
;
; The installer lands in dist\desktop-search-VERSION-setup.exe. It installs per
; user by default (no administrator rights); the user can choose all users.

#ifndef AppVersion
  #error Pass the version from pyproject.toml: ISCC /DAppVersion=X.Y.Z desktop-search.iss
#endif
#ifndef DistDir
  #define DistDir "..\..\dist\desktop-search"
#endif
#define AppName "Desktop Search"
#define GuiExe "desktop-search-gui.exe"

[Setup]
AppId={{6F0E8C1A-3D52-4B7E-9A41-2C7D5E1B9F30}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=desktop-search developers
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=desktop-search-{#AppVersion}-setup
SetupIconFile=..\..\resources\desktop-search.ico
UninstallDisplayIcon={app}\{#GuiExe}
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
ChangesEnvironment=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the desktop-search command to PATH"; GroupDescription: "Command line:"; Flags: unchecked

[Files]
; The whole PyInstaller one-folder bundle: desktop-search.exe (console, the
; CLI), desktop-search-gui.exe (the window) and _internal\ (Python, Qt, ONNX
; Runtime, the model).
Source: "{#DistDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#GuiExe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Tasks: desktopicon

[Registry]
Root: HKA; Subkey: "{code:EnvironmentKey}"; ValueType: expandsz; ValueName: "Path"; \
    ValueData: "{olddata};{app}"; Tasks: addtopath; Check: NotOnPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\{#GuiExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

; The index and settings live in the user's data folder
; (%LOCALAPPDATA%\desktop-search) and are kept on uninstall.

[Code]
function EnvironmentKey(Param: String): String;
begin
  if IsAdminInstallMode then
    Result := 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment'
  else
    Result := 'Environment';
end;

function PathRoot: Integer;
begin
  if IsAdminInstallMode then
    Result := HKEY_LOCAL_MACHINE
  else
    Result := HKEY_CURRENT_USER;
end;

function NotOnPath(Dir: String): Boolean;
var
  Path: String;
begin
  if not RegQueryStringValue(PathRoot, EnvironmentKey(''), 'Path', Path) then
    Path := '';
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Path) + ';') = 0;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Path, Dir: String;
  P: Integer;
begin
  if CurUninstallStep <> usPostUninstall then
    exit;
  if not RegQueryStringValue(PathRoot, EnvironmentKey(''), 'Path', Path) then
    exit;
  Dir := ExpandConstant('{app}');
  P := Pos(';' + Uppercase(Dir), Uppercase(Path));
  if P > 0 then
  begin
    Delete(Path, P, Length(Dir) + 1);
    RegWriteExpandStringValue(PathRoot, EnvironmentKey(''), 'Path', Path);
  end;
end;

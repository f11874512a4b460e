//! The windows. Each module builds one window at fixed, named positions (the tests click
//! them) and has a `relabel` that sets every label from the current language again. Only
//! the UI thread calls into here.

pub mod account;
pub mod create_group;
pub mod main_window;
pub mod manage_group;
pub mod signin;
pub mod signup;
pub mod view;

use crate::net::NetEvent;
use fltk::enums::{Align, Color, Font};
use fltk::prelude::*;

/// The one message type of the one `fltk::app::channel`: what a widget asks for, or what the
/// network reports.
#[derive(Debug, Clone)]
pub enum Msg {
    /// A control was used.
    Ui(Action),
    /// The network reports.
    Net(NetEvent),
}

/// What the user asked for through a control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Sign in with the form's login and password.
    SignIn,
    /// Resume the session Disconnect kept.
    Continue,
    /// Show the sign-up window.
    ShowSignUp,
    /// Create the account from the sign-up form.
    SignUp,
    /// Back from sign-up to sign-in.
    BackToSignIn,
    /// A language was chosen in a window's selector.
    Language(Screen),
    /// A line of the groups list was clicked.
    GroupChosen,
    /// A member was double-clicked: show their details.
    MemberInfo,
    /// Send the input box's text.
    Send,
    /// Close the connection, keep the session.
    Disconnect,
    /// End the session.
    LogOut,
    /// Open the new-group dialog.
    ShowCreateGroup,
    /// Create the group from the dialog.
    CreateGroup,
    /// Open the manage-group dialog.
    ShowManageGroup,
    /// Add the logins typed in the manage dialog.
    AddMembers,
    /// Remove the member selected in the manage dialog.
    RemoveMember,
    /// Hand the group to the member selected in the manage dialog.
    HandOver,
    /// Delete the group (after a confirmation).
    DeleteGroup,
    /// Leave the shown group (after a confirmation).
    LeaveGroup,
    /// Open the account dialog.
    ShowAccount,
    /// Change the display name.
    SetName,
    /// Change the password.
    ChangePassword,
    /// Delete the account (after a confirmation).
    DeleteAccount,
    /// Close a dialog.
    CloseDialog,
    /// The main window's close button.
    Quit,
}

/// Which window a control belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// The sign-in window.
    SignIn,
    /// The main window.
    Main,
}

/// A rectangle in window coordinates: x, y, width, height.
pub type Rect = (i32, i32, i32, i32);

/// The centre of a rectangle, where a test clicks.
pub fn centre(r: Rect) -> (i32, i32) {
    (r.0 + r.2 / 2, r.1 + r.3 / 2)
}

/// The size of labels and text everywhere.
pub const TEXT_SIZE: i32 = 14;

/// A frame that shows a message in red, wrapped inside its box.
pub fn message_frame(r: Rect) -> fltk::frame::Frame {
    let mut frame = fltk::frame::Frame::new(r.0, r.1, r.2, r.3, None);
    frame.set_align(Align::Inside | Align::Left | Align::Top | Align::Wrap);
    frame.set_label_color(Color::from_rgb(0xb0, 0x00, 0x20));
    frame.set_label_size(TEXT_SIZE - 1);
    frame
}

/// A text input with its label above it.
pub fn labelled<W: WidgetExt>(mut widget: W) -> W {
    widget.set_align(Align::TopLeft);
    widget.set_label_size(TEXT_SIZE);
    widget.set_label_font(Font::Helvetica);
    widget
}

/// Shows `text` on a frame and redraws what was under it.
pub fn show_on(frame: &mut fltk::frame::Frame, text: &str) {
    frame.set_label(text);
    if let Some(mut parent) = frame.parent() {
        parent.redraw();
    }
}

/// The X window id, so tests can find the window with xdotool; 0 while it is hidden (FLTK
/// has no X window for it then).
pub fn window_id(window: &fltk::window::Window) -> u64 {
    if window.shown() {
        window.raw_handle()
    } else {
        0
    }
}
